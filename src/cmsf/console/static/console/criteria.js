// Subscriber Rules: "Add to the criteria" puts the field found in the picker on a new line of the criteria, followed
// by a space for its operator and value. Without this script the picker still finds a field's API name to type.
document.addEventListener("DOMContentLoaded", () => {
  for (const button of document.querySelectorAll("[data-add-criterion]")) {
    const picked = document.getElementById(button.dataset.addCriterion);
    const criteria = document.getElementById(button.dataset.criteria);
    if (!picked || !criteria) {
      continue;
    }
    button.hidden = false;
    button.addEventListener("click", () => {
      const name = picked.value.trim();
      if (!name) {
        picked.focus();
        return;
      }
      const before = criteria.value.replace(/\s+$/, "");
      criteria.value = `${before ? `${before}\n` : ""}${name} `;
      picked.value = "";
      criteria.focus();
      criteria.setSelectionRange(criteria.value.length, criteria.value.length);
    });
  }
});
