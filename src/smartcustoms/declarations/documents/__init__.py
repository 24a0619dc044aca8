"""Documents attached to declarations: invoices, packing lists, certificates; checked by content, stored by hash."""
