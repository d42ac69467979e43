"""The peer figure for `make bench`: the Python `eventsourcing` library on the same PostgreSQL,
doing the same business operations as Freshline's registration load (register a supplier,
then approve it), from 8 threads, without HTTP. Prints one line: `eventsourcing: N commands
in S s = R/s`. Run by infra/local/bench.sh in its own virtual environment.

Settings: POSTGRES_* as the library reads them; BENCH_COUNT (suppliers), BENCH_THREADS.
"""

import os
import threading
import time

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event


class Supplier(Aggregate):
    @event("Registered")
    def __init__(self, legal_name: str, registration_number: str, contact_email: str) -> None:
        self.legal_name = legal_name
        self.registration_number = registration_number
        self.contact_email = contact_email
        self.status = "pending"

    @event("Approved")
    def approve(self) -> None:
        if self.status != "pending":
            raise ValueError("only a pending supplier can be approved")
        self.status = "approved"


class Suppliers(Application):
    def register(self, n: int) -> object:
        supplier = Supplier(f"Supplier {n} B.V.", f"PY-{n}", f"s{n}@example.com")
        self.save(supplier)
        return supplier.id

    def approve(self, supplier_id: object) -> None:
        supplier = self.repository.get(supplier_id)
        supplier.approve()
        self.save(supplier)


def main() -> None:
    count = int(os.environ.get("BENCH_COUNT", "4000"))
    threads = int(os.environ.get("BENCH_THREADS", "8"))
    os.environ.setdefault("PERSISTENCE_MODULE", "eventsourcing.postgres")
    os.environ.setdefault("POSTGRES_POOL_SIZE", str(threads))
    app = Suppliers()
    app.approve(app.register(-1))  # warm up: tables, pool
    per_thread = count // threads

    def work(t: int) -> None:
        for i in range(per_thread):
            n = t * per_thread + i
            app.approve(app.register(n))

    started = time.perf_counter()
    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    secs = time.perf_counter() - started
    commands = per_thread * threads * 2
    print(f"eventsourcing: {commands} commands in {secs:.2f} s = {commands / secs:.0f}/s "
          f"(register + approve, {threads} threads)")


if __name__ == "__main__":
    main()
