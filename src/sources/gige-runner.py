#!/usr/bin/python3
# The camera child for every GigE camera (src/sources/gige.ts): free-running, software- or hardware-triggered,
# run as
#   /usr/bin/python3 -I gige-runner.py '<camera settings JSON>' <gst-launch tokens...>
# Why not gst-launch + aravissrc: gst-launch has no command channel, and aravissrc fails its pipeline
# ("Internal data stream error") when no frame comes within 2 s, which a camera waiting for triggers does.
# So this process holds the camera itself (Aravis), applies the settings in aravissrc's order, and pushes
# every frame into the `camera` appsrc of the pipeline the daemon built (caps → conversion → GDP → fd 3),
# so everything downstream is the same as for gst-launch. Commands on stdin: `trigger <token>` fires
# TriggerSoftware for the daemon's trigger <token>; EOF (the daemon is gone) or SIGINT/SIGTERM stops cleanly,
# releasing the camera's control channel. Prints `ready` on stdout once triggers can be taken. Any failure:
# one `ERROR: from element camera: ...` line on stderr, exit 1 (the daemon restarts it with backoff).
#
# Evidence (docs/cameras.md, "Part ↔ frame pairing"): every frame carries, in its GStreamer buffer, the
# camera's frame (block) id in `offset_end`, the camera's own timestamp (ns) in `dts`, and on a software-
# triggered camera the token of the trigger it answers in `offset` (GST_BUFFER_OFFSET_NONE: none). Those
# fields travel through the conversion and GDP to the daemon unchanged. A software trigger whose frame did
# not come is reported on stdout as `lost <token> <frame-lost|trigger-missed> <detail>`.
# Exact by construction: one software trigger is outstanding at a time (SoftwarePairing), so the next frame
# the camera exposes after it was sent can only be its answer.
import json
import os
import signal
import sys
import threading
import time

import gi

gi.require_version("Gst", "1.0")
gi.require_version("Aravis", "0.8")
from gi.repository import Aravis, GLib, Gst  # noqa: E402

CCP_REGISTER = 0x0A00  # GigE Vision control channel privilege: every camera answers it
LIVENESS_READ_S = 0.5  # a register read this often while the camera idles
# Dead when no read succeeded for this long. Our own deadline: a read from a dead camera only fails after
# Aravis's GVCP retries (2.5 s, 5 s while its heartbeat thread waits too), which is not configurable here.
LIVENESS_DEADLINE_S = 2.0
N_BUFFERS = 8
NO_TOKEN = (1 << 64) - 1  # GST_BUFFER_OFFSET_NONE: a frame that answers no software trigger
CLOCK_WINDOW = 64  # frames over which the camera → host clock offset is the minimum (see camera-clock.ts)
RCVBUF_CHECK_S = 1.0  # how often the stream socket's kernel drop counter is read

cfg = json.loads(sys.argv[1])
Gst.init(None)
pipeline = Gst.parse_launchv(sys.argv[2:])  # same parser and escaping rules as gst-launch-1.0
appsrc = pipeline.get_by_name("camera")
loop = GLib.MainLoop()
stopping = threading.Event()
exit_code = 0


def fail(message, camera_lost=False):
    """Report one line (the daemon shows it as the camera's state detail) and stop with exit code 1. A lost
    camera cannot be stopped or released (each attempt waits out the GVCP retries): exit at once."""
    global exit_code
    if exit_code == 0:
        print(f"ERROR: from element camera: {message}", file=sys.stderr, flush=True)
        exit_code = 1
    if camera_lost:
        os._exit(1)
    loop.quit()
    return False


def configure(cam):
    """aravissrc's set_caps order: pixel format, binning, region, packet delay/size, then the features."""
    get = cfg.get
    cam.stop_acquisition()
    cam.set_acquisition_mode(Aravis.AcquisitionMode.CONTINUOUS)  # as aravissrc
    cam.set_pixel_format_from_string(cfg["pixelFormat"])
    if get("binningH") is not None or get("binningV") is not None:
        cam.set_binning(get("binningH") or -1, get("binningV") or -1)
    x, y, _, _ = cam.get_region()
    ox, oy = get("offsetX"), get("offsetY")
    cam.set_region(x if ox is None else ox, y if oy is None else oy, get("width") or -1, get("height") or -1)
    if cam.is_gv_device():
        if get("packetDelay") is not None:
            cam.gv_set_packet_delay(cfg["packetDelay"])
        if get("packetSize") is not None:
            cam.gv_set_packet_size(cfg["packetSize"])
    dev = cam.get_device()
    if cfg["features"]:
        dev.set_features_from_string(cfg["features"])
    if cfg["trigger"] != "software":
        return  # free-running, or hardware trigger: the features set it up
    # Software trigger on frame start. The selector first (it selects what the next two apply to), and only
    # where the camera has one: older cameras have a single frame trigger.
    if dev.get_feature("TriggerSelector") is not None:
        cam.set_string("TriggerSelector", "FrameStart")
    cam.set_string("TriggerMode", "On")
    cam.set_string("TriggerSource", "Software")


def frame_gap(last, fid):
    """Frames the camera numbered between two it delivered: GigE Vision 1 block ids are 16 bit and skip 0
    (65535 → 1), extended (GigE Vision 2) ids are 64 bit."""
    if last is None:
        return 0
    if last <= 0xFFFF and fid <= 0xFFFF:
        return (fid - last - 1) % 0xFFFF
    return max(0, fid - last - 1)


class CameraClock:
    """Camera timestamps → host time (ns): the minimum of (first-packet arrival − camera timestamp) over the
    last frames is the clock offset plus the shortest transfer, so a mapped time is never before the true
    exposure (src/sources/camera-clock.ts does the same in the daemon)."""

    def __init__(self):
        self.offsets = []

    def add(self, camera_ns, arrival_ns):
        self.offsets.append(arrival_ns - camera_ns)
        del self.offsets[:-CLOCK_WINDOW]

    def exposure(self, camera_ns, arrival_ns):
        """Host time of the exposure; the arrival itself when nothing is known yet."""
        if not self.offsets:
            return arrival_ns
        return min(camera_ns + min(self.offsets), arrival_ns)


class SoftwarePairing:
    """Which software trigger each frame answers. One trigger is outstanding at a time: the next is fired
    only when the camera's answer to the previous one is in (or declared lost), so the first frame exposed
    after a trigger was sent is its answer — exact, whatever the camera merges or the network loses. A
    trigger that cannot be fired within maxDelayMs of its arrival (the camera is still busy with the one
    before) is `trigger-missed`; a fired one whose frame comes incomplete or not within frameTimeoutMs is
    `frame-lost`. A frame exposed before the outstanding trigger was sent (the late answer to one already
    given up) is stale: dropped and counted, never given to the next part."""

    def __init__(self, cam, report):
        self.cam = cam
        self.report = report
        self.lock = threading.Lock()
        self.held = []  # (token, arrival monotonic s)
        self.outstanding = None  # (token, sent realtime ns, sent monotonic s)
        self.max_delay = cfg["maxDelayMs"] / 1000
        self.frame_timeout = cfg["frameTimeoutMs"] / 1000

    def trigger(self, token):
        with self.lock:
            self.held.append((token, time.monotonic()))
            self._fire_next()

    def _fire_next(self):
        while self.outstanding is None and self.held:
            token, since = self.held.pop(0)
            waited = time.monotonic() - since
            if waited > self.max_delay:
                self.report(token, "trigger-missed", f"camera busy for {waited * 1000:.0f} ms with the previous trigger")
                continue
            sent = time.time_ns()
            try:
                self.cam.software_trigger()
            except GLib.Error as e:
                fail(f"software trigger failed: {e.message}", camera_lost=True)
            self.outstanding = (token, sent, time.monotonic())

    def frame(self, exposure_ns, ok, what):
        """The token a frame answers (None: no trigger waits, or the frame is stale); reports a lost one."""
        with self.lock:
            out = self.outstanding
            if out is None or exposure_ns < out[1]:
                return None
            self.outstanding = None
            if not ok:
                self.report(out[0], "frame-lost", what)
            self._fire_next()
            return out[0] if ok else None

    def check(self):
        """Main loop, every 50 ms: give up a trigger whose frame is overdue."""
        with self.lock:
            out = self.outstanding
            if out is not None and time.monotonic() - out[2] > self.frame_timeout:
                self.outstanding = None
                self.report(out[0], "frame-lost", f"no frame within {cfg['frameTimeoutMs']} ms of the trigger")
            self._fire_next()
        return True


def socket_drops(port):
    """Packets the kernel dropped on our stream socket because its receive buffer was full (the `drops`
    column of /proc/net/udp{,6} for the local port), or None when it is not found."""
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    cols = line.split()
                    if int(cols[1].rsplit(":", 1)[1], 16) == port:
                        return int(cols[-1])
        except (OSError, ValueError, IndexError, StopIteration):
            continue
    return None


def watch_receive_buffer(port, size):
    """Stream thread's neighbour: says so on stderr while the kernel drops packets at our socket (the daemon
    puts it in the camera's stall detail). One line per second at most, only while drops grow."""
    last = socket_drops(port)
    while not stopping.wait(RCVBUF_CHECK_S):
        now = socket_drops(port)
        if now is not None and last is not None and now > last:
            print(
                f"WARNING: frames lost: receive buffer ({now - last} packets dropped by the kernel in "
                f"{RCVBUF_CHECK_S:.0f} s at a {size} byte socket buffer; raise net.core.rmem_max)",
                file=sys.stderr,
                flush=True,
            )
        last = now


def pump(stream, pairing, counters):
    """Stream thread: camera buffers → appsrc, rows padded to 4 bytes and PTS from the first frame, as
    aravissrc does, with the frame's evidence (see the header). A long wait for a trigger is normal here."""
    first = None
    size = None
    last_id = None
    clock = CameraClock()
    bpp = cfg["bytesPerPixel"]
    while not stopping.is_set():
        buf = stream.timeout_pop_buffer(200_000)
        if buf is None:
            continue
        try:
            status = buf.get_status()
            ok = status == Aravis.BufferStatus.SUCCESS
            fid, ts, arrival = buf.get_frame_id(), buf.get_timestamp(), buf.get_system_timestamp()
            gap = frame_gap(last_id, fid)
            last_id = fid
            if gap:
                counters["gap"] += gap
                print(f"WARNING: {gap} frame(s) lost before frame {fid}", file=sys.stderr, flush=True)
            if ok:
                clock.add(ts, arrival)
            else:
                counters["incomplete"] += 1
                print(f"WARNING: frame {fid} lost: {status.value_nick}", file=sys.stderr, flush=True)
            # An incomplete frame's timestamp may be the host's (leader lost): its first packet's arrival
            # is an upper bound of its exposure either way.
            exposure = clock.exposure(ts, arrival) if ok else arrival
            token = NO_TOKEN
            if pairing is not None:
                answered = pairing.frame(exposure, ok, f"frame {fid} {status.value_nick}")
                if answered is None and ok:
                    counters["unpaired"] += 1
                token = NO_TOKEN if answered is None else answered
            if not ok:
                continue
            w, h = buf.get_image_width(), buf.get_image_height()
            if (w, h) != size:
                size = (w, h)
                appsrc.set_property("caps", Gst.Caps.from_string(f"{cfg['caps']},width={w},height={h},framerate=0/1"))
            data = buf.get_data()
            row = w * bpp
            stride = (row + 3) & ~3
            if stride != row:
                padded = bytearray(stride * h)
                for r in range(h):
                    padded[r * stride : r * stride + row] = data[r * row : (r + 1) * row]
                data = bytes(padded)
            first = ts if first is None else first
            out = Gst.Buffer.new_wrapped(data)
            out.pts = ts - first
            out.dts = ts
            out.offset = token
            out.offset_end = fid
            appsrc.emit("push-buffer", out)
        finally:
            stream.push_buffer(buf)


def main():
    try:
        cam = Aravis.Camera.new(cfg["device"])
    except GLib.Error as e:
        fail(f'Could not find camera "{cfg["device"]}": {e.message}')
        sys.exit(exit_code)
    try:
        configure(cam)
        stream = cam.create_stream(None, None)
        if isinstance(stream, Aravis.GvStream):
            # A triggered frame arrives as one burst: the socket must hold all of it. The system default
            # (212 KB) drops most of a 1280×1024 frame, and Aravis's AUTO (= the payload size) drops small
            # frames, because the kernel charges each packet about twice its size. So: twice the payload,
            # at least 1 MiB (the kernel caps it at net.core.rmem_max). aravissrc does not ask at all.
            # Free-running cameras need it as much: aravissrc never asks, and at 512×512 the default
            # buffer already loses every frame.
            # PINPOINT_GVSP_SOCKET_BUFFER (bytes) overrides it: to reproduce a host whose rmem_max is too
            # small (the test of the "frames lost: receive buffer" detail), never needed in production.
            size = int(os.environ.get("PINPOINT_GVSP_SOCKET_BUFFER") or max(1 << 20, 2 * cam.get_payload()))
            stream.set_property("socket-buffer", Aravis.GvStreamSocketBuffer.FIXED)
            stream.set_property("socket-buffer-size", size)
            rcvbuf = (stream.get_port(), size)
        else:
            rcvbuf = None
        for _ in range(N_BUFFERS):
            stream.push_buffer(Aravis.Buffer.new_allocate(cam.get_payload()))
        pipeline.set_state(Gst.State.PLAYING)
        cam.start_acquisition()
    except GLib.Error as e:
        fail(f"Could not set up camera \"{cfg['device']}\": {e.message}")
        sys.exit(exit_code)
    dev = cam.get_device()

    def on_bus(_bus, msg):
        err, _ = msg.parse_error()
        return fail(f"{msg.src.get_name()}: {err.message}")

    out_lock = threading.Lock()

    def report(token, reason, detail):
        with out_lock:
            sys.stdout.write(f"lost {token} {reason} {detail}\n")
            sys.stdout.flush()

    pairing = SoftwarePairing(cam, report) if cfg["trigger"] == "software" else None
    counters = {"gap": 0, "incomplete": 0, "unpaired": 0}
    pending = b""

    def on_stdin(_fd, _cond):
        nonlocal pending
        data = os.read(0, 4096)
        if not data:  # the daemon closed the pipe (or died): stop, exit 0
            loop.quit()
            return False
        *lines, pending = (pending + data).split(b"\n")
        for line in lines:
            word, _, token = line.partition(b" ")
            if word == b"trigger" and pairing is not None and token.isdigit():
                pairing.trigger(int(token))
        return True

    # An idle camera sends nothing: without this a dead one would only show at the next trigger.
    last_ok = time.monotonic()

    def probe():
        nonlocal last_ok
        while not stopping.wait(LIVENESS_READ_S):
            try:
                dev.read_register(CCP_REGISTER)
                last_ok = time.monotonic()
            except GLib.Error:
                pass  # the deadline below decides

    def alive():
        silent = time.monotonic() - last_ok
        if silent < LIVENESS_DEADLINE_S:
            return True
        return fail(f"camera not answering for {silent:.1f} s", camera_lost=True)

    bus = pipeline.get_bus()
    bus.add_signal_watch()
    bus.connect("message::error", on_bus)
    GLib.unix_fd_add_full(GLib.PRIORITY_HIGH, 0, GLib.IOCondition.IN | GLib.IOCondition.HUP, on_stdin)
    for sig in (signal.SIGINT, signal.SIGTERM):
        GLib.unix_signal_add(GLib.PRIORITY_HIGH, sig, lambda: loop.quit() or False)
    GLib.timeout_add(250, alive)
    if pairing is not None:
        GLib.timeout_add(50, pairing.check)
    thread = threading.Thread(target=pump, args=(stream, pairing, counters), daemon=True)
    thread.start()
    threading.Thread(target=probe, daemon=True).start()
    if rcvbuf is not None:
        threading.Thread(target=watch_receive_buffer, args=rcvbuf, daemon=True).start()
    with out_lock:
        print("ready", flush=True)
    loop.run()

    stopping.set()
    thread.join(1)
    try:
        cam.stop_acquisition()
    except GLib.Error:
        pass  # a lost camera cannot be stopped; releasing it below is what matters
    pipeline.set_state(Gst.State.NULL)
    if any(counters.values()):
        print(f"frames lost: {counters['gap']} never arrived, {counters['incomplete']} incomplete; "
              f"{counters['unpaired']} answered no trigger", file=sys.stderr, flush=True)
    del stream, dev, cam  # unref → Aravis releases the control channel
    sys.exit(exit_code)


main()
