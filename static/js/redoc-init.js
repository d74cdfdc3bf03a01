// Starts ReDoc on the API docs page (a static file: the CSP allows no inline script).
(function () {
  var container = document.getElementById("redoc-container");
  if (container && window.Redoc) {
    window.Redoc.init(container.dataset.schemaUrl, {}, container);
  }
})();
