// Dispense form: show the patient fields or the ward field, depending on the recipient.
document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("dispense-form");
  if (!form) return;
  const sync = () => {
    const checked = form.querySelector("input[name=recipient]:checked");
    const ward = checked && checked.value === "ward";
    form.querySelectorAll(".recipient-patient").forEach((el) => el.classList.toggle("hidden", ward));
    form.querySelectorAll(".recipient-ward").forEach((el) => el.classList.toggle("hidden", !ward));
  };
  form.querySelectorAll("input[name=recipient]").forEach((el) => el.addEventListener("change", sync));
  sync();
});
