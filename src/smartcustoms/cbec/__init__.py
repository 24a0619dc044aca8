"""Cross-border e-commerce retail imports: CEB messages, three-document matching, tax, quota, release."""
