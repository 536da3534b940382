// A select marked data-combobox gets a search box above it: typing keeps only the options whose text holds what is
// typed (the first match is chosen when the chosen one is hidden). Without this script the select works as it is.
function enhanceCombobox(select) {
  if (select.dataset.comboboxReady) {
    return;
  }
  select.dataset.comboboxReady = "true";
  const search = document.createElement("input");
  search.type = "search";
  search.className = "slds-input slds-m-bottom_xx-small";
  search.placeholder = "Search";
  search.setAttribute("aria-label", `Search: ${select.dataset.combobox}`);
  search.setAttribute("aria-controls", select.id);
  search.setAttribute("autocomplete", "off");
  search.dataset.testid = `${select.id}-search`;
  select.parentNode.insertBefore(search, select);
  search.addEventListener("input", () => {
    const term = search.value.trim().toLowerCase();
    let first = null;
    for (const option of select.options) {
      const shown = !option.value || option.text.toLowerCase().includes(term);
      option.hidden = !shown;
      if (shown && option.value && !option.disabled && first === null) {
        first = option;
      }
    }
    const chosen = select.options[select.selectedIndex];
    if (term && first !== null && (!chosen || chosen.hidden || !chosen.value)) {
      first.selected = true;
    }
  });
}

function enhanceComboboxes(root) {
  for (const select of root.querySelectorAll("select[data-combobox]")) {
    enhanceCombobox(select);
  }
}

document.addEventListener("DOMContentLoaded", () => enhanceComboboxes(document));
document.addEventListener("htmx:load", (event) => enhanceComboboxes(event.target));
