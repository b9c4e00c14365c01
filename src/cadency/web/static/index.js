// Index pages (subscriptions): advanced filter rows, the column chooser, the custom date range
// and clickable rows. The page works without this file; it only makes editing quicker.
(() => {
  const PARTS = /^filter_groups\.\d+\.filters\.\d+\./;

  // Give every filter input its dotted name (filter_groups.<g>.filters.<f>.<part>) in the
  // order the rows stand, so the URL always numbers groups and filters from zero.
  function renumber(container) {
    container.querySelectorAll("[data-filter-group]").forEach((group, g) => {
      const legend = group.querySelector("legend");
      if (legend && legend.dataset.template) legend.textContent = legend.dataset.template.replace("%n", g + 1);
      group.querySelectorAll("[data-filter-row]").forEach((row, f) => {
        row.querySelectorAll("[name]").forEach((input) => {
          const part = input.name.replace(PARTS, "");
          input.name = `filter_groups.${g}.filters.${f}.${part}`;
        });
      });
    });
  }

  function properties(container) {
    try { return JSON.parse(container.dataset.properties || "{}"); } catch { return {}; }
  }

  // Offer only the operators a property's kind supports, the right kind of value input, and
  // the second value for "between"; hide the value for "is known" / "is unknown".
  function fitRow(row, described) {
    const property = row.querySelector("[data-part=property]");
    const operator = row.querySelector("[data-part=operator]");
    const value = row.querySelector("[data-part=value]");
    const high = row.querySelector("[data-part=high]");
    const highValue = row.querySelector("[data-part=high_value]");
    const about = described[property.value];
    if (about) {
      [...operator.options].forEach((o) => { o.hidden = !about.operators.includes(o.value); });
      if (!about.operators.includes(operator.value)) operator.value = about.operators[0];
      const listed = ["in", "not_in"].includes(operator.value);
      // "Less / more than N days ago" takes a number of days, not a date.
      const days = ["less_than_days_ago", "more_than_days_ago"].includes(operator.value);
      const type = days ? "number"
        : !listed && about.kind === "date" ? "date"
        : !listed && about.kind === "datetime" ? "datetime-local" : "text";
      // A value the date input cannot hold (mistyped, or a bad link) stays visible as text, so
      // the message about it can be read next to what was typed.
      const shapes = { date: /^\d{4}-\d{2}-\d{2}$/, number: /^\d+$/ };
      const fits = (input) => !input.value || type === "text"
        || (shapes[type] || /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/).test(input.value);
      [value, highValue].forEach((input) => {
        if (input.type !== type && fits(input)) input.type = type;
      });
      let list = row.querySelector("datalist");
      if (about.options.length) {
        if (!list) {
          list = document.createElement("datalist");
          list.id = `options-${Math.random().toString(36).slice(2)}`;
          row.appendChild(list);
        }
        list.replaceChildren(...about.options.map(([v, label]) => {
          const option = document.createElement("option");
          option.value = v; option.label = label; option.textContent = label;
          return option;
        }));
        value.setAttribute("list", list.id);
        value.placeholder = listed ? about.options.map(([v]) => v).slice(0, 3).join(", ") : "";
      } else {
        value.removeAttribute("list");
      }
    } else {
      [...operator.options].forEach((o) => { o.hidden = false; });
    }
    const presence = ["has_property", "not_has_property"].includes(operator.value);
    value.hidden = presence;
    high.hidden = operator.value !== "between";
  }

  function setUp(container) {
    const described = properties(container);
    const details = container.closest("details");
    const template = details && details.querySelector("template[data-filter-row-template]");
    const freshRow = () => template.content.firstElementChild.cloneNode(true);
    container.querySelectorAll("[data-filter-group] legend").forEach((legend) => {
      legend.dataset.template = legend.textContent.replace(/\d+/, "%n");
    });
    container.querySelectorAll("[data-filter-row]").forEach((row) => fitRow(row, described));

    container.addEventListener("change", (event) => {
      const row = event.target.closest("[data-filter-row]");
      if (row) fitRow(row, described);
    });
    container.addEventListener("click", (event) => {
      const add = event.target.closest("[data-add-filter]");
      if (add) {
        const row = freshRow();
        add.before(row);
        fitRow(row, described);
        renumber(container);
        row.querySelector("select").focus();
      }
      const remove = event.target.closest("[data-remove-filter]");
      if (remove) {
        const row = remove.closest("[data-filter-row]");
        const group = row.closest("[data-filter-group]");
        row.remove();
        if (!group.querySelector("[data-filter-row]") && container.querySelectorAll("[data-filter-group]").length > 1) group.remove();
        renumber(container);
      }
    });
    const addGroup = details && details.querySelector("[data-add-group]");
    if (addGroup) {
      addGroup.addEventListener("click", () => {
        const first = container.querySelector("[data-filter-group]");
        const group = first.cloneNode(false);
        const legend = first.querySelector("legend").cloneNode(true);
        const button = first.querySelector("[data-add-filter]").cloneNode(true);
        const row = freshRow();
        group.append(legend, row, button);
        container.appendChild(group);
        fitRow(row, described);
        renumber(container);
        row.querySelector("select").focus();
      });
    }
  }

  // The column chooser: up / down buttons move a row; the checkboxes submit in row order.
  document.addEventListener("click", (event) => {
    const move = event.target.closest("[data-move]");
    if (!move) return;
    const row = move.closest("tr");
    if (move.dataset.move === "up") {
      const previous = row.previousElementSibling;
      if (previous && previous.getAttribute("draggable") === "true") previous.before(row);
    } else if (row.nextElementSibling) {
      row.nextElementSibling.after(row);
    }
    move.focus();
  });

  // A click anywhere on a row opens the record, like the name link does.
  document.addEventListener("click", (event) => {
    const row = event.target.closest("tr[data-href]");
    if (!row || event.target.closest("a, button, input, label, select")) return;
    window.location.href = row.dataset.href;
  });

  document.addEventListener("change", (event) => {
    const target = event.target;
    if (target.matches("[data-autosubmit]") && target.form) target.form.requestSubmit();
    if (target.matches("[data-next-billing]")) {
      document.querySelectorAll("[data-custom-range]").forEach((field) => {
        field.hidden = target.value !== "custom";
      });
    }
  });

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("[data-filter-groups]").forEach(setUp);
  });
})();
