"""Tax assessment: customs value, duty, consumption tax, import VAT; tariff and exchange-rate tables."""
