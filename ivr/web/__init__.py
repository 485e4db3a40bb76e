"""The web phone (``ivr serve``): the hotline in a browser, one WebSocket per call.

``protocol`` checks every message a browser sends (plain Python), ``calls`` runs each web
call through the same `Session`, timeline and wiring as ``ivr call`` (plain Python and
threads), and ``app`` is the Starlette application around them; ``static`` holds the page
(vanilla JS and CSS, no build step, nothing from a CDN). Only ``app`` imports Starlette,
and only ``ivr serve`` imports ``app``.
"""
