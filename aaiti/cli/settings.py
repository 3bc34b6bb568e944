"""Settings at the command's edge: read once, tool state pointed into the data folder."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aaiti.config import Settings


def command_settings(*, record: str | None = None) -> Settings:
    """The settings; a stage command (``record``: its name) also records the settings it
    runs with in ``audit.run_settings``, as a flow run does."""
    from aaiti.config import apply_tool_environment, load_settings

    settings = load_settings()
    apply_tool_environment(settings)
    if record:
        from aaiti.warehouse import Warehouse
        from aaiti.warehouse.run_settings import record_run_settings

        warehouse = Warehouse.from_settings(settings)
        if warehouse.path.exists():  # a command on no warehouse writes nothing
            record_run_settings(warehouse, settings, run_name=f"aaiti {record}")
    return settings
