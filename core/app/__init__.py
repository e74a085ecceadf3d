"""The application services: what the CLI and the window ask core to do, and what core tells them back.

Each service takes a typed request (a :class:`ModelSource`, a :class:`DataSource`
and an options dataclass) and reports through typed events
(:mod:`core.app.events`). The CLI and the window only build requests and show
events; neither builds option dicts or parses message text. Qt-free.
"""
