"""``aaiti-serve``: register every deployment and run their schedules until SIGTERM.

Its own entry point beside the flows (``make up`` starts it through ``aaiti stack up``), so
that the library never imports orchestration.
"""

from __future__ import annotations


def main() -> None:
    from aaiti.config import apply_tool_environment, load_settings
    from flows.deployments import serve

    settings = load_settings()
    apply_tool_environment(settings)
    serve(settings)


if __name__ == "__main__":
    main()
