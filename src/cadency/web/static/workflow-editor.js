// The workflow editor (workflows/editor.html): show only the fields that the chosen trigger,
// action type or recipients use. The form works without this file: every field shows, and the
// server reads only those the choices use.
document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("workflow-form");
  if (!form) return;
  // A <select data-switch="x"> shows the [data-when="x"] parts whose data-values name its value.
  const fit = (select) => {
    form.querySelectorAll(`[data-when="${select.dataset.switch}"]`).forEach((part) => {
      part.hidden = !part.dataset.values.split(" ").includes(select.value);
    });
  };
  form.querySelectorAll("select[data-switch]").forEach(fit);
  form.addEventListener("change", (event) => {
    if (event.target.matches("select[data-switch]")) fit(event.target);
  });
});
