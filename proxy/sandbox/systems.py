"""Fixture systems: the four demo sites and the 300-site installer fleet.

Demo systems (owned by demo@example.com):

- 1001 "Sunny Micro Home", America/Los_Angeles, wifi: gateway 122100001001 and 12 micros
  480010010001..480010010012; no meters, no batteries; operational ~1100 days ago.
- 1002 "Meter & Battery House", Europe/Berlin, ethernet: gateway 122100001002, 20 micros
  480010020001..480010020020, production meter 122100001002EIM1, consumption meter
  122100001002EIM2, encharges 120010025001 and 120010025002, acb 120010026001;
  operational ~1000 days ago.
- 1003 "Cellular Cabin", Australia/Sydney, cellular: gateway 122100001003, 6 micros
  480010030001..480010030006; reports every 3 hours with many 5-minute intervals missing;
  operational only ~200 days ago.
- 1004 "Big Commercial", America/New_York, ethernet: gateway 122100001004, 60 micros
  480010040001..480010040060, production and consumption meters (EIM1/EIM2 as above);
  operational ~1050 days ago.

Fleet systems 3000..3299 (owned by fleet@example.com, an installer with company 7001):
names "Fleet Site 0001".."Fleet Site 0300", mixed time zones, statuses including v4-only
values, references "FLEET-0001"..; every third has meters, every 21st has a battery,
the 7th of every 50 reports sparsely (and is only ~180 days old).

Serial patterns: gateway ``1221{id:08d}``, micro ``48{id:06d}{n:04d}``, meters
``{gateway}EIM1`` (production) / ``EIM2`` (consumption), encharge ``12{id:06d}5{n:03d}``,
acb ``12{id:06d}6{n:03d}`` (n counts from 1).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta

from .localtime import local_date, midnight
from .settings import FLEET_SYSTEM_IDS

NORMAL_REPORT_EVERY = 900
SPARSE_REPORT_EVERY = 3 * 3600  # the shortest cellular cadence; phased, 3 to 6 hours


@dataclass(frozen=True)
class Location:
    """Where a system is: time zone, coordinates and postal address."""

    timezone: str
    latitude: float
    longitude: float
    city: str
    state: str
    country: str
    postal_code: str


@dataclass(frozen=True)
class System:
    """One simulated Enphase site; hashable so data can be cached per system."""

    system_id: int
    name: str
    location: Location
    operational_date: date
    connection_type: str
    status: str = "normal"
    public_name: str = "Residential System"
    micro_count: int = 12
    micro_watts: int = 290
    module_watts: int = 400
    meters: bool = False
    encharge_count: int = 0
    acb_count: int = 0
    sparse: bool = False
    reference: str | None = None
    other_references: tuple[str, ...] = ()
    attachment_type: str = "rack_mount"
    upload_phase: int = 0  # seconds after each multiple of ``report_every`` that it uploads
    cellular_hours: int = 3  # hours between a sparse system's uploads

    def __hash__(self) -> int:
        return hash((self.system_id, self.operational_date))

    @property
    def timezone(self) -> str:
        """The IANA time zone name."""
        return self.location.timezone

    @property
    def operational_at(self) -> int:
        """Epoch of local midnight of the first reported day."""
        return midnight(self.timezone, self.operational_date)

    @property
    def report_every(self) -> int:
        """Seconds between the gateway's reports."""
        return self.cellular_hours * 3600 if self.sparse else NORMAL_REPORT_EVERY

    @property
    def gateway(self) -> str:
        """The gateway (envoy) serial number."""
        return f"1221{self.system_id:08d}"

    @property
    def micros(self) -> tuple[str, ...]:
        """Microinverter serial numbers."""
        return tuple(f"48{self.system_id:06d}{n:04d}" for n in range(1, self.micro_count + 1))

    @property
    def production_meters(self) -> tuple[str, ...]:
        """Production (revenue-grade) meter serial numbers."""
        return (f"{self.gateway}EIM1",) if self.meters else ()

    @property
    def consumption_meters(self) -> tuple[str, ...]:
        """Consumption meter serial numbers."""
        return (f"{self.gateway}EIM2",) if self.meters else ()

    @property
    def encharges(self) -> tuple[str, ...]:
        """Encharge battery serial numbers."""
        return tuple(f"12{self.system_id:06d}5{n:03d}" for n in range(1, self.encharge_count + 1))

    @property
    def acbs(self) -> tuple[str, ...]:
        """AC battery serial numbers."""
        return tuple(f"12{self.system_id:06d}6{n:03d}" for n in range(1, self.acb_count + 1))

    @property
    def size_w(self) -> int:
        """DC size in watts."""
        return self.micro_count * self.module_watts


LOS_ANGELES = Location("America/Los_Angeles", 34.05, -118.24, "Los Angeles", "CA", "US", "90012")
BERLIN = Location("Europe/Berlin", 52.52, 13.40, "Berlin", "BE", "DE", "10115")
SYDNEY = Location("Australia/Sydney", -33.87, 151.21, "Sydney", "NSW", "AU", "2000")
NEW_YORK = Location("America/New_York", 40.71, -74.01, "New York", "NY", "US", "10001")
FLEET_LOCATIONS = (
    LOS_ANGELES,
    NEW_YORK,
    BERLIN,
    SYDNEY,
    Location("America/Denver", 39.74, -104.99, "Denver", "CO", "US", "80202"),
    Location("America/Chicago", 41.88, -87.63, "Chicago", "IL", "US", "60601"),
    Location("Pacific/Honolulu", 21.31, -157.86, "Honolulu", "HI", "US", "96813"),
    Location("Europe/London", 51.51, -0.13, "London", "ENG", "GB", "WC2N 5DU"),
    Location("Asia/Kathmandu", 27.72, 85.32, "Kathmandu", "BA", "NP", "44600"),
    Location("America/Sao_Paulo", -23.55, -46.63, "Sao Paulo", "SP", "BR", "01000-000"),
)
FLEET_STATUSES = (
    "normal",
    "comm",
    "normal",
    "micro",
    "power",
    "meter_issue",
    "encharge_issue",
    "not_monitored",
    "normal",
    "on_grid",
    "storage_idle",
    "retired",
    "enpower_issue",
    "battery",
    "off_grid",
    "grid_unknown",
    "meter",
)
CONNECTIONS = ("ethernet", "wifi", "cellular")


def demo_systems(today: date) -> list[System]:
    """The four demo systems, with operational dates counted back from ``today``."""
    return [
        System(1001, "Sunny Micro Home", LOS_ANGELES, today - timedelta(1100), "wifi"),
        System(
            1002,
            "Meter & Battery House",
            BERLIN,
            today - timedelta(1000),
            "ethernet",
            micro_count=20,
            meters=True,
            encharge_count=2,
            acb_count=1,
        ),
        System(
            1003,
            "Cellular Cabin",
            SYDNEY,
            today - timedelta(200),
            "cellular",
            micro_count=6,
            sparse=True,
        ),
        System(
            1004,
            "Big Commercial",
            NEW_YORK,
            today - timedelta(1050),
            "ethernet",
            public_name="Commercial",
            micro_count=60,
            meters=True,
            attachment_type="frame_mount",
        ),
    ]


def fleet_system(system_id: int, today: date) -> System:
    """Fleet system ``system_id`` (3000..3299), derived from its index alone."""
    n = system_id - FLEET_SYSTEM_IDS[0] + 1
    return System(
        system_id,
        f"Fleet Site {n:04d}",
        FLEET_LOCATIONS[n % len(FLEET_LOCATIONS)],
        today - timedelta(180 if n % 50 == 7 else 400 + n * 37 % 1100),
        CONNECTIONS[n % len(CONNECTIONS)],
        status=FLEET_STATUSES[n % len(FLEET_STATUSES)],
        public_name="Commercial" if n % 11 == 0 else "Residential System",
        micro_count=8 + n % 25,
        meters=n % 3 == 0,
        encharge_count=1 if n % 21 == 0 else 0,
        sparse=n % 50 == 7,
        reference=f"FLEET-{n:04d}",
        other_references=(f"OTHER-{n:04d}",) if n % 5 == 0 else (),
    )


def build_systems(now: float, phased: bool = False) -> dict[int, System]:
    """Every fixture system by id, dated relative to ``now``.

    ``phased``: each uploads at a phase of its own (whole minutes), sparse ones every 3 to 6
    hours (1003: 3), as real gateways do; else all on the same 15-minute (3-hour) boundaries.
    """
    today = local_date("UTC", now)
    systems = demo_systems(today) + [fleet_system(i, today) for i in FLEET_SYSTEM_IDS]
    if phased:
        systems = [_phased(s) for s in systems]
    return {s.system_id: s for s in systems}


def _phased(system: System) -> System:
    """``system`` uploading at its own phase and, if sparse, its own cadence."""
    hours = 3 + system.system_id % 4 if system.system_id != 1003 else 3
    every = hours * 3600 if system.sparse else NORMAL_REPORT_EVERY
    phase = system.system_id * 7919 % (every // 60) * 60  # spread, the same at every start
    return replace(system, upload_phase=phase, cellular_hours=hours)
