"""The deterministic Campaign Monitor dataset of the sandbox: fills a `World` from a size and a seed.

`generate_world(size, seed, now)` builds an agency account whose history ends three hours before
`now`; `advance_world(world, until, now)` adds what happened since; `manifest(world)` counts what
is there so that the emulator's answers can be checked against it.

How the history is made: people (see `people.py`) join lists over three years; campaigns and journey
e-mails are sent in time order to whoever is active and not suppressed at that moment; each send may
bounce, be opened (again and again, fewer as days pass), clicked, unsubscribed from or reported as
spam. Unsubscribes, spam complaints and hard bounces change the subscriber's state at that moment and
feed the client's suppression list, so the reports and the lists agree. Everything is computed in
UTC seconds and stored as naive client-local datetimes, to the second.

The generation is in dataset_generate.py, the advance in dataset_advance.py, the manifest in dataset_manifest.py, and
the simulation the first two share in dataset_sim.py; the smart emails and what becomes of transactional messages in
dataset_transactional.py; this module is where their public names are imported from.

No Django and nothing of cmsf's own clients: standard library only.
"""

from cmsf_sandbox.dataset_advance import advance_world
from cmsf_sandbox.dataset_generate import generate_world, local_ceiling
from cmsf_sandbox.dataset_manifest import manifest, write_manifest
from cmsf_sandbox.people import SIZES, Person, generate_people

__all__ = [
    "SIZES",
    "Person",
    "advance_world",
    "generate_people",
    "generate_world",
    "local_ceiling",
    "manifest",
    "write_manifest",
]
