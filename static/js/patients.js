// Patient records: ICD-10 autocomplete picks. No inline scripts (strict CSP).
document.addEventListener("click", (evt) => {
  const option = evt.target.closest(".icd-option");
  if (!option) return;
  const form = option.closest("form");
  const input = form && form.querySelector("input[name=code]");
  if (input) {
    input.value = option.dataset.code;
    input.focus();
  }
  const results = document.getElementById("icd10-results");
  if (results) results.innerHTML = "";
});
