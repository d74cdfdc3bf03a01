// Take payment: remember the order the clerk ticks invoices in (checkboxes are submitted in
// page order), write it to the hidden invoice_order field and number the ticked invoices.
document.addEventListener("DOMContentLoaded", () => {
  const order = document.getElementById("id_invoice_order");
  if (!order) return;
  const boxes = Array.from(document.querySelectorAll("input[type=checkbox][name=invoices]"));
  const ticked = new Set(boxes.filter((b) => b.checked).map((b) => b.value));
  let picked = order.value.split(",").filter((v) => ticked.has(v));
  boxes.forEach((b) => { if (b.checked && !picked.includes(b.value)) picked.push(b.value); });
  const sync = () => {
    order.value = picked.join(",");
    boxes.forEach((b) => {
      const label = b.closest("label");
      if (!label) return;
      const n = picked.indexOf(b.value);
      if (n >= 0) label.dataset.order = String(n + 1);
      else delete label.dataset.order;
    });
  };
  boxes.forEach((b) => b.addEventListener("change", () => {
    picked = picked.filter((v) => v !== b.value);
    if (b.checked) picked.push(b.value);
    sync();
  }));
  sync();
});
