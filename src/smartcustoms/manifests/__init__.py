"""Transport manifests (舱单): China customs MT messages, IATA waybills and CUSCAR, risk-assessed before loading."""
