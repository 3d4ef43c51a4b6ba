"""The dashboard's top-10 panels: which /v1/query breakdown each tab of each panel asks for.

A tab is a dimension of /v1/query with the metrics its table shows; the event tabs
(outbound links, downloads, 404s) are a breakdown of the events the snippet sends by itself
(`event` is outbound / download / 404), by the link's `url` prop or the missing page.
"""

from __future__ import annotations

from dataclasses import dataclass

SHOWN = 10  # rows a panel shows on the first screen
MORE = 20  # rows each "show more" adds
PROP = "prop"  # the Properties tab's dimension, completed by the screen's `prop`: prop:KEY


@dataclass(frozen=True)
class Tab:
    key: str  # unique across panels: the URL's `tab=` names it
    label: str
    dimension: str
    metrics: tuple[str, ...] = ("visitors",)
    event: str | None = None  # the event name the tab is limited to
    filterable: bool = True  # a click on a row filters the screen by it
    column: str = ""  # the table's heading for the dimension (label if empty)

    @property
    def heading(self) -> str:
        return self.column or self.label


@dataclass(frozen=True)
class Panel:
    key: str
    label: str
    tabs: tuple[Tab, ...]
    geography: bool = False  # shows the DB-IP attribution

    def tab(self, key: str | None) -> Tab:
        """The tab named `key`, else the first."""
        return next((tab for tab in self.tabs if tab.key == key), self.tabs[0])


PANELS: tuple[Panel, ...] = (
    Panel(
        "sources",
        "Sources",
        (
            Tab("source", "Sources", "source", column="Source"),
            Tab("channel", "Channels", "channel", column="Channel"),
            Tab("utm_campaign", "Campaigns", "utm_campaign", column="Campaign"),
        ),
    ),
    Panel(
        "pages",
        "Pages",
        (
            Tab("page", "Top pages", "page", ("visitors", "pageviews"), column="Page"),
            Tab("entry_page", "Entry pages", "entry_page", ("visitors", "visits"), column="Page"),
            Tab("exit_page", "Exit pages", "exit_page", ("visitors", "visits"), column="Page"),
        ),
    ),
    Panel(
        "locations",
        "Locations",
        (
            Tab("country", "Countries", "country", column="Country"),
            Tab("region", "Regions", "region", column="Region"),
            Tab("city", "Cities", "city", column="City"),
        ),
        geography=True,
    ),
    Panel(
        "devices",
        "Devices",
        (
            Tab("device", "Devices", "device", column="Device"),
            Tab("browser", "Browsers", "browser", column="Browser"),
            Tab("os", "Operating systems", "os", column="OS"),
        ),
    ),
    Panel(
        "goals",
        "Goals",
        (
            Tab("goal", "Goals", "goal", ("visitors", "events", "conversion_rate"), column="Goal"),
            Tab("event", "Events", "event", ("visitors", "events"), column="Event"),
            Tab("props", "Properties", PROP, ("visitors", "events"), column="Value"),
        ),
    ),
    Panel(
        "links",
        "Links and errors",
        (
            Tab(
                "outbound",
                "Outbound links",
                "prop:url",
                event="outbound",
                filterable=False,
                column="Link",
            ),
            Tab(
                "download",
                "Downloads",
                "prop:url",
                event="download",
                filterable=False,
                column="File",
            ),
            Tab(
                "notfound", "Not found (404)", "page", event="404", filterable=False, column="Page"
            ),
        ),
    ),
)
TABS = {tab.key: (panel, tab) for panel in PANELS for tab in panel.tabs}


def panel_named(key: str) -> Panel | None:
    return next((panel for panel in PANELS if panel.key == key), None)
