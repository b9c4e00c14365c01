// The account settings form: add and remove rows of the account's tax IDs. Without scripts
// the form still works: it always has an empty row, and an emptied row is a removed one.
(function () {
  document.addEventListener("DOMContentLoaded", () => {
    const list = document.querySelector("[data-testid=tax-ids]");
    if (!list) return;
    const rows = list.querySelector("#tax-id-rows");
    const template = list.querySelector("#tax-id-row-template");
    const addButton = list.querySelector("[data-add-tax-id]");
    const most = Number(list.dataset.max || "10");
    function update() {
      addButton.hidden = rows.children.length >= most;
    }
    addButton.addEventListener("click", () => {
      if (rows.children.length >= most) return;
      const row = template.content.firstElementChild.cloneNode(true);
      rows.appendChild(row);
      row.querySelector("input").focus();
      update();
    });
    rows.addEventListener("click", (event) => {
      const target = event.target;
      if (!(target instanceof Element) || !target.closest("[data-remove-tax-id]")) return;
      target.closest("[data-tax-id-row]").remove();
      update();
    });
    update();
  });
})();
