"""Messages to users (the inbox): notices produced from lifecycle events, read state per user."""
