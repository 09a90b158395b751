"""The attendance service's application layer: one function per operation.

Each function takes the call's unit of work (:class:`~attendance.app.work.Work`:
the store, the worker's outbox, the rules, a tally of metric updates and the
proven caller) and the validated payload, asks the pure domain what the rules
say, writes through the store and emits what was decided. The service class
only validates and calls one of them, so these run in tests over an in-memory
store and ``zhidu.fakes.FakeOutbox``, with no broker and no database.

An operation runs as one unit (one transaction) unless it is declared
``unit=False``; those (closing a day, the sweep) open a unit per small batch
with :meth:`Work.unit`. A unit may run more than once — the library re-runs
it after a write conflict, a duplicate key or a ``StaleWrite`` — so nothing
here sends, counts or remembers anything outside the unit's own writes and
events: metric updates go to the tally and are made once the unit committed.
"""
