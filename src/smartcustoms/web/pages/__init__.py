"""Server-rendered pages, one module (and router) per role: session, trader, officer, analyst, admin.

``base`` holds what they share (rendering, anti-forgery tokens, flash messages, the login guard);
``web.app`` includes the routers explicitly, in this order: session, trader, officer, analyst, admin.
"""
