"""Writes for inventory, by sub-domain. Every quantity change locks the lot row
(``SELECT ... FOR UPDATE``) and writes its immutable movement in the same transaction; the
CHECK constraint on ``StockLot.quantity`` is the last line of defence against negative stock.

Failures raise ``ValidationError`` (bad input, not enough stock, wrong state) and leave
nothing changed. Lock order is always lots first (in id order), then the items whose stock
totals change (in id order, see ``inventory.totals``), then the audit chain lock."""
