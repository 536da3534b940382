// A button marked data-add-field puts the field found in its picker (an input with a datalist) on a new line of a
// textarea, followed by data-after ("LeadSource " for a criterion, "Title = " for a mapping), and moves to its end.
// Without this script the picker still finds a field's API name to type.
document.addEventListener("DOMContentLoaded", () => {
  for (const button of document.querySelectorAll("[data-add-field]")) {
    const picked = document.getElementById(button.dataset.addField);
    const into = document.getElementById(button.dataset.into);
    if (!picked || !into) {
      continue;
    }
    button.hidden = false;
    button.addEventListener("click", () => {
      const name = picked.value.trim();
      if (!name) {
        picked.focus();
        return;
      }
      const before = into.value.replace(/\s+$/, "");
      into.value = `${before ? `${before}\n` : ""}${name}${button.dataset.after || " "}`;
      picked.value = "";
      into.focus();
      into.setSelectionRange(into.value.length, into.value.length);
    });
  }
});
