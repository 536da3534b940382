// A button marked data-print prints the page (a static script: the Content-Security-Policy allows no inline one).
document.addEventListener("click", (event) => {
  if (event.target instanceof Element && event.target.closest("[data-print]")) {
    window.print();
  }
});
