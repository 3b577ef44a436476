#!/usr/bin/env python3
"""An independent OCPP 1.6J charger, built on the PyPI `ocpp` package (mobilityhouse), that runs
one full transaction against a central system and reports what happened as JSON lines on stdout.

It exists so that OpenPile is tested against an implementation that shares no code with it: the
`ocpp` package validates every CALLRESULT it receives against the official 1.6 JSON schemas, so
a schema violation by the server fails the run.

Flow (mode `remote`, the default):
  BootNotification -> StatusNotification Available (connector 0 and 1..N)
  -> prints {"event": "ready"}            the driver now sends RemoteStartTransaction
  -> RemoteStartTransaction Accepted -> [Authorize] -> Preparing -> StartTransaction -> Charging
  -> MeterValues x N (energy Wh register, power, current, voltage, SoC; values are strings)
  -> prints {"event": "charging", "transaction_id": ...}   the driver sends RemoteStopTransaction
  -> RemoteStopTransaction Accepted -> StopTransaction reason Remote -> Finishing -> Available
  -> prints {"event": "summary", "ok": true, ...} and exits 0.
Mode `local` replaces the remote start with a badge at the charger (Authorize + StartTransaction)
and still waits for a RemoteStopTransaction, stopping locally if none arrives within --stop-wait.

Every line on stdout is one JSON object; logs go to stderr. Exit status 0 = the flow completed,
1 = it failed (the summary then has "ok": false and "error"), 2 = bad arguments.

Requires Python >= 3.11, `ocpp==2.1.0` and `websockets` (tests/python/requirements.txt).
"""

import argparse
import asyncio
import base64
import json
import logging
import sys
from datetime import datetime, timezone
from urllib.parse import quote

import websockets
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import (
    Action,
    AuthorizationStatus,
    ChargePointErrorCode,
    ChargePointStatus,
    Reason,
    RegistrationStatus,
    RemoteStartStopStatus,
)


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def emit(event: str, **fields) -> None:
    """One machine-readable line on stdout, flushed at once so a driver can react to it."""
    print(json.dumps({"event": event, **fields}), flush=True)


def basic_auth(cp_id: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{cp_id}:{password}".encode()).decode()


class Charger(ChargePoint):
    """A one-connector-at-a-time charger that records every exchange for the summary."""

    def __init__(self, cp_id, ws, connectors, meter_wh, power_w):
        super().__init__(cp_id, ws, response_timeout=30)
        self.connectors = connectors
        self.meter_wh = meter_wh
        self.power_w = power_w
        self.tx_id = None
        self.remote_starts: asyncio.Queue = asyncio.Queue()
        self.remote_stop = asyncio.Event()
        self.statuses = []  # [connector, status] in the order sent
        self.received = []  # CALLs from the central system, by action name

    @on(Action.remote_start_transaction)
    async def on_remote_start(self, id_tag, connector_id=None, charging_profile=None):
        self.received.append("RemoteStartTransaction")
        if self.tx_id is not None or (connector_id is not None and not 1 <= connector_id <= self.connectors):
            return call_result.RemoteStartTransaction(status=RemoteStartStopStatus.rejected)
        # Handlers must not await self.call(): the receive loop awaits them. Hand over instead.
        self.remote_starts.put_nowait((connector_id or 1, id_tag))
        return call_result.RemoteStartTransaction(status=RemoteStartStopStatus.accepted)

    @on(Action.remote_stop_transaction)
    async def on_remote_stop(self, transaction_id):
        self.received.append("RemoteStopTransaction")
        if self.tx_id is None or transaction_id != self.tx_id:
            return call_result.RemoteStopTransaction(status=RemoteStartStopStatus.rejected)
        self.remote_stop.set()
        return call_result.RemoteStopTransaction(status=RemoteStartStopStatus.accepted)

    async def status(self, connector_id, status):
        await self.call(
            call.StatusNotification(
                connector_id=connector_id,
                error_code=ChargePointErrorCode.no_error,
                status=status,
                timestamp=now(),
            )
        )
        self.statuses.append([connector_id, status.value if hasattr(status, "value") else status])

    def sample(self, context, soc):
        power = self.power_w if context == "Sample.Periodic" else 0
        values = [
            {"value": str(self.meter_wh), "context": context, "measurand": "Energy.Active.Import.Register",
             "location": "Outlet", "unit": "Wh"},
            {"value": f"{power:.1f}", "context": context, "measurand": "Power.Active.Import",
             "location": "Outlet", "unit": "W"},
            {"value": f"{power / 230:.1f}", "context": context, "measurand": "Current.Import",
             "location": "Outlet", "unit": "A"},
            {"value": "230.0", "context": context, "measurand": "Voltage", "location": "Outlet", "unit": "V"},
            {"value": str(soc), "context": context, "measurand": "SoC", "location": "EV", "unit": "Percent"},
        ]
        return [{"timestamp": now(), "sampledValue": values}]


async def run(args) -> dict:
    url = f"{args.url.rstrip('/')}/{quote(args.id, safe='')}"
    headers = {"Authorization": basic_auth(args.id, args.password)} if args.password else {}
    summary = {"charger": args.id, "mode": args.mode}
    async with websockets.connect(
        url, subprotocols=["ocpp1.6"], additional_headers=headers, open_timeout=10
    ) as ws:
        if ws.subprotocol != "ocpp1.6":
            raise RuntimeError(f"central system selected subprotocol {ws.subprotocol!r}")
        cp = Charger(args.id, ws, args.connectors, args.meter_start, args.power_w)
        receive_loop = asyncio.create_task(cp.start())
        try:
            boot = await cp.call(
                call.BootNotification(
                    charge_point_vendor="PyOcppTest",
                    charge_point_model="charger_16.py",
                    charge_point_serial_number=f"PY-{args.id}"[:25],
                    firmware_version="ocpp-2.1.0",
                )
            )
            summary["boot_status"] = boot.status
            summary["heartbeat_interval"] = boot.interval
            if boot.status != RegistrationStatus.accepted:
                raise RuntimeError(f"BootNotification answered {boot.status}")
            await cp.call(call.Heartbeat())
            for connector in range(0, args.connectors + 1):
                await cp.status(connector, ChargePointStatus.available)
            emit("ready", charger=args.id)

            if args.mode == "remote":
                connector, id_tag = await asyncio.wait_for(cp.remote_starts.get(), args.wait)
            else:
                connector, id_tag = 1, args.id_tag
            summary["connector"], summary["id_tag"] = connector, id_tag
            if args.authorize or args.mode == "local":
                auth = await cp.call(call.Authorize(id_tag=id_tag))
                summary["authorize_status"] = auth.id_tag_info["status"]
            await cp.status(connector, ChargePointStatus.preparing)
            meter_start = cp.meter_wh
            start = await cp.call(
                call.StartTransaction(connector_id=connector, id_tag=id_tag, meter_start=meter_start, timestamp=now())
            )
            cp.tx_id = start.transaction_id
            summary["transaction_id"] = start.transaction_id
            summary["start_id_tag_status"] = start.id_tag_info["status"]
            summary["meter_start"] = meter_start
            await cp.status(connector, ChargePointStatus.charging)

            soc, samples = 40, 0
            for _ in range(args.samples):
                await asyncio.sleep(args.sample_interval)
                cp.meter_wh += args.energy_step_wh
                soc += 1
                samples += 1
                await cp.call(
                    call.MeterValues(connector_id=connector, transaction_id=cp.tx_id,
                                     meter_value=cp.sample("Sample.Periodic", soc))
                )
            summary["meter_values_sent"] = samples
            emit("charging", charger=args.id, transaction_id=cp.tx_id, meter_wh=cp.meter_wh)

            try:
                await asyncio.wait_for(cp.remote_stop.wait(), args.stop_wait)
                reason = Reason.remote
            except asyncio.TimeoutError:
                if args.mode == "remote":
                    raise RuntimeError("no RemoteStopTransaction arrived")
                reason = Reason.local
            cp.meter_wh += args.energy_step_wh
            stop = await cp.call(
                call.StopTransaction(
                    transaction_id=cp.tx_id,
                    meter_stop=cp.meter_wh,
                    timestamp=now(),
                    id_tag=id_tag,
                    reason=reason,
                    transaction_data=cp.sample("Transaction.End", soc),
                )
            )
            summary["stop_reason"] = reason.value
            summary["meter_stop"] = cp.meter_wh
            summary["stop_id_tag_status"] = (stop.id_tag_info or {}).get("status")
            cp.tx_id = None
            await cp.status(connector, ChargePointStatus.finishing)
            await cp.status(connector, ChargePointStatus.available)
            summary["statuses"] = cp.statuses
            summary["received"] = cp.received
        finally:
            receive_loop.cancel()
    return summary


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", required=True, help="OCPP endpoint, e.g. ws://127.0.0.1:8080/ocpp")
    p.add_argument("--id", required=True, help="charge point id")
    p.add_argument("--password", help="OCPP password (HTTP Basic); omit for none")
    p.add_argument("--mode", choices=["remote", "local"], default="remote")
    p.add_argument("--id-tag", default="04A2B3C4D5E6F7", help="tag badged in local mode")
    p.add_argument("--connectors", type=int, default=1)
    p.add_argument("--authorize", action="store_true", help="send Authorize before a remote start")
    p.add_argument("--samples", type=int, default=3, help="MeterValues to send while charging")
    p.add_argument("--sample-interval", type=float, default=0.2, help="seconds between MeterValues")
    p.add_argument("--energy-step-wh", type=int, default=250)
    p.add_argument("--meter-start", type=int, default=1_000_000, help="meter register at start, Wh")
    p.add_argument("--power-w", type=float, default=7360.0)
    p.add_argument("--wait", type=float, default=60, help="seconds to wait for RemoteStartTransaction")
    p.add_argument("--stop-wait", type=float, default=60, help="seconds to wait for RemoteStopTransaction")
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        summary = asyncio.run(run(args))
    except BaseException as e:  # noqa: BLE001 - report every failure as JSON, then exit 1
        if isinstance(e, KeyboardInterrupt):
            raise
        emit("summary", ok=False, charger=args.id, error=f"{type(e).__name__}: {e}")
        return 1
    emit("summary", ok=True, **summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
