"""The declaration aggregate: header + goods items, lifecycle events, lodging service and API."""
