// The custom property form: show only the parts the chosen field type uses, and edit the
// option rows (add, remove, move). Hidden parts are disabled so they are not submitted: the
// server would (rightly) refuse, say, a pattern on a number.
(function () {
  function fieldType(form) {
    const select = form.querySelector("select[name=field_type]");
    if (select) return select.value;
    const fixed = form.querySelector("[data-field-type]");
    return fixed ? fixed.value : "";
  }

  function showSections(form) {
    const type = fieldType(form);
    const readOnly = form.querySelector("fieldset[disabled]") !== null;
    form.querySelectorAll("[data-for-types]").forEach((section) => {
      const used = section.dataset.forTypes.split(" ").includes(type);
      section.hidden = !used;
      if (readOnly) return;
      section.querySelectorAll("input, select, textarea, button").forEach((el) => {
        el.disabled = !used;
      });
    });
    const rows = form.querySelector("#option-rows");
    // A choice field starts with one empty option row to type into.
    if (rows && !readOnly && !rows.closest("[hidden]") && rows.children.length === 0) {
      addOption(form);
    }
  }

  function addOption(form) {
    const template = form.querySelector("#option-row-template");
    const rows = form.querySelector("#option-rows");
    if (!template || !rows) return null;
    const row = template.content.firstElementChild.cloneNode(true);
    rows.appendChild(row);
    return row;
  }

  // The Edit and Preview tabs: the Preview tab's button also asks the server (htmx) for the
  // field drawn from the form's current values, so the preview is never stale.
  function showTab(chosen) {
    document.querySelectorAll("[data-property-tab]").forEach((tab) => {
      const selected = tab === chosen;
      tab.setAttribute("aria-selected", selected ? "true" : "false");
      const panel = document.getElementById(tab.getAttribute("aria-controls"));
      if (panel) panel.hidden = !selected;
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    const form = document.getElementById("property-form");
    if (!form) return;
    document.querySelectorAll("[data-property-tab]").forEach((tab) => {
      tab.addEventListener("click", () => showTab(tab));
    });
    showSections(form);
    form.addEventListener("change", (event) => {
      if (event.target.name === "field_type") showSections(form);
    });
    form.addEventListener("click", (event) => {
      const target = event.target;
      if (!(target instanceof Element)) return;
      if (target.closest("[data-add-option]")) {
        const row = addOption(form);
        if (row) row.querySelector("input").focus();
        return;
      }
      const row = target.closest("tr[data-option-row]");
      if (!row) return;
      if (target.closest("[data-remove-option]")) {
        row.remove();
        return;
      }
      const move = target.closest("[data-move-option]");
      if (move) {
        if (move.dataset.moveOption === "up" && row.previousElementSibling) {
          row.parentNode.insertBefore(row, row.previousElementSibling);
        } else if (move.dataset.moveOption === "down" && row.nextElementSibling) {
          row.parentNode.insertBefore(row.nextElementSibling, row);
        }
      }
    });
    // A new option's internal value follows its label until someone types a value.
    form.addEventListener("input", (event) => {
      const input = event.target;
      if (!(input instanceof HTMLInputElement)) return;
      const row = input.closest("tr[data-option-row]");
      if (!row) return;
      const value = row.querySelector("input[name=option_value]");
      if (input.name === "option_value") {
        value.dataset.touched = "1";
      } else if (input.name === "option_label" && !value.dataset.touched && !value.defaultValue) {
        value.value = input.value.trim().toLowerCase().replace(/[^a-z0-9]+/g, "_").replace(/^_+|_+$/g, "");
      }
    });
  });
})();
