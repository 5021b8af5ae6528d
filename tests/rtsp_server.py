"""A real RTSP camera for the tests: GStreamer's RTSP server (Debian: gstreamer1.0-rtsp,
gir1.2-gst-rtsp-server-1.0, python3-gi) serving a video as H.264 at 25 frames/s, looped, with no end and
no declared length, as a camera does (a stream with a length is played once, like a file, and never
reconnected). The video is a numbered sequence of JPEG frames (FRAMES = a pattern such as dir/%03d.jpg).

Run by the system Python, which has the GObject bindings (the project's venv does not):
    /usr/bin/python3 tests/rtsp_server.py FRAMES PORT      # rtsp://127.0.0.1:PORT/cells
Prints "ready" once it listens; each client gets the video from its start. Ends on SIGTERM or SIGINT.
"""

import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

MOUNT = "/cells"
# The JPEG frames decoded and encoded as a camera would send them: H.264, a key frame every 10 frames (a
# client that joins or rejoins decodes at once), no B-frames (zerolatency).
PIPELINE = (
    "( multifilesrc location={frames} loop=true caps=image/jpeg,framerate=25/1 ! jpegdec ! videoconvert ! "
    "x264enc tune=zerolatency speed-preset=ultrafast key-int-max=10 ! rtph264pay name=pay0 pt=96 config-interval=1 )"
)


def main() -> None:
    frames, port = sys.argv[1], sys.argv[2]
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(port)
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(PIPELINE.format(frames=frames))
    server.get_mount_points().add_factory(MOUNT, factory)
    if server.attach(None) == 0:
        sys.exit(f"cannot listen on 127.0.0.1:{port}")
    loop = GLib.MainLoop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signum, loop.quit)
    print("ready", flush=True)
    loop.run()


if __name__ == "__main__":
    main()
