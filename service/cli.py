"""The ``firelane`` command."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from detector.backends import DetectorError
from detector.sizing import inference_size
from detector.sources import ImageSource, SourceError, open_source, redact_url
from detector.tiling import TILE_MODES, TiledDetector
from service.evidence import verify_manifest
from service.camera.runner import RunReport, run_camera
from service.settings import PROJECT_ROOT, Settings, get_settings
from zones.config import CameraZones, ZoneFileError, load_zones
from zones.geometry import footprint_overlap

log = logging.getLogger("firelane")
SAMPLES = PROJECT_ROOT / "samples"
EXIT_BAD_INPUT, EXIT_SOURCE, EXIT_MODEL, EXIT_OUTPUT, EXIT_DATABASE = 2, 3, 4, 5, 6


def _parse_time(text: str, camera: CameraZones) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise SystemExit(f"firelane: --start {text!r} is not an ISO-8601 time such as 2026-11-02T09:00:00+08:00")
    return value if value.tzinfo else value.replace(tzinfo=camera.timezone)


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value <= 86400:
        raise argparse.ArgumentTypeError(f"{text} must be more than 0 and at most 86400 seconds")
    return value


def _sizes(args: argparse.Namespace, settings: Settings, camera: CameraZones) -> tuple[int | None, int]:
    """The camera's explicit inference size (--imgsz, else its zone file's; it may enlarge frames), and the size its
    detector is built for: that, or what detector.sizing picks for the zone file's frame and zones."""
    explicit = args.imgsz or camera.imgsz
    automatic = inference_size(camera.frame_size, [z.polygon for z in camera.zones], max_imgsz=settings.imgsz)
    return explicit, explicit or automatic


def _detector(args: argparse.Namespace, settings: Settings, imgsz: int):
    from detector.resolve import load_detector

    return load_detector(
        args.model or settings.model,
        models_dirs=settings.models_dirs,
        imgsz=imgsz,
        conf=settings.conf,
        class_map=settings.class_map(),
        allow_download=settings.allow_download,
        export_openvino=settings.export_openvino,
    )


def _print_report(report: RunReport) -> None:
    print(f"{report.frames} frames in {report.seconds:.1f} s ({report.fps:.1f} frames/s), "
          f"detector ran on {report.detector_calls}")
    for gap in report.gaps:
        end = gap.ended_at.isoformat() if gap.ended_at else "end of run"
        print(f"stream gap: {gap.started_at.isoformat()} → {end}: {gap.reason}")
    print(f"{len(report.violations)} violation(s)")
    for record in report.violations:
        facts = record.facts()
        ended = facts["ended_at"] or "ongoing"
        print(
            f"  {facts['id'][:8]}  {facts['zone_name']} ({facts['zone_id']})  {facts['object_class']}  "
            f"from {facts['started_at']}  violation at {facts['violation_at']}  ended {ended}  "
            f"{facts['duration_s']:.0f} s"
        )
        print(f"            evidence: {record.evidence.location}")
    print(f"violations.jsonl: {report.jsonl}")
    print(f"database: {redact_url(report.database_url)}")
    for problem in report.output_problems:
        print(f"firelane: not written: {problem}", file=sys.stderr)
    if report.waiting_in_spool:
        print(f"firelane: the database did not answer; {report.waiting_in_spool} save(s) wait in {report.spool_dir} "
              "and are written by the next run or `firelane serve`", file=sys.stderr)


def _run_exit_code(report: RunReport) -> int:
    if report.interrupted:
        return 130
    if report.output_problems:
        return EXIT_OUTPUT
    return EXIT_DATABASE if report.waiting_in_spool else 0


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    camera = load_zones(args.zones)
    explicit, imgsz = _sizes(args, settings, camera)
    camera = replace(camera, imgsz=explicit)
    start = _parse_time(args.start, camera) if args.start else None
    source = open_source(args.source, fps=args.fps or settings.fps, tz=camera.timezone, start=start,
                         stream_timeout_s=args.stream_timeout)
    detector = _detector(args, settings, imgsz)
    log.info("%s → %s, zones %s", source.description, detector.name, ", ".join(z.id for z in camera.zones))
    out_dir = Path(args.out) if args.out else settings.out_dir
    try:
        report = run_camera(source, camera, detector, settings, out_dir, args.db, progress=not args.quiet,
                            gate_max_skip_s=None if args.no_gate else 5.0, database_wait_s=args.db_wait)
    except OSError as error:
        print(f"firelane: cannot write to {out_dir}: {error.strerror or error}", file=sys.stderr)
        return EXIT_OUTPUT
    _print_report(report)
    return _run_exit_code(report)


def cmd_detect(args: argparse.Namespace, settings: Settings) -> int:
    camera = load_zones(args.zones)
    frame = next(ImageSource(Path(args.image), camera.timezone).frames())
    height, width = frame.image.shape[:2]
    camera = camera.scaled_to(width, height)
    imgsz = _sizes(args, settings, camera)[1]
    detector = _detector(args, settings, imgsz)
    detections = detector.detect(frame.image, imgsz=imgsz)
    overlaps = {z.id: footprint_overlap(detections.xyxy, z.polygon) for z in camera.zones}
    objects = []
    for i in range(len(detections)):
        name, category = str(detections.class_name[i]), str(detections.category[i])
        inside = [
            z.id for z in camera.zones if z.accepts(name, category) and overlaps[z.id][i] >= z.min_overlap
        ]
        objects.append(
            {
                "class": name,
                "category": category,
                "score": round(float(detections.confidence[i]), 3),
                "box": [round(float(v), 1) for v in detections.xyxy[i]],
                "zones": inside,
            }
        )
    zones = [
        {
            "id": z.id,
            "name": z.name,
            "occupied": any(z.id in o["zones"] for o in objects),
            "occupants": sum(z.id in o["zones"] for o in objects),
        }
        for z in camera.zones
    ]
    result = {
        "image": str(args.image),
        "captured_at": frame.captured_at.isoformat(),
        "detector": detector.name,
        "imgsz": imgsz,
        "objects": objects,
        "zones": zones,
    }
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
    else:
        print(f"{args.image}: {len(objects)} object(s) by {detector.name}")
        for o in objects:
            print(f"  {o['class']:<14} {o['category']:<9} {o['score']:.2f}  {o['box']}  zones: {', '.join(o['zones']) or '-'}")
        for z in zones:
            print(f"  zone {z['id']} ({z['name']}): {'OCCUPIED' if z['occupied'] else 'free'}")
    return 0


def cmd_plate(args: argparse.Namespace, settings: Settings) -> int:
    import cv2

    from detector.plates import PlateReader

    image = cv2.imread(str(args.image))
    if image is None:
        raise SourceError(f"{args.image}: not a readable image")
    readings = PlateReader(min_confidence=settings.plate_min_confidence).read(image)
    if args.json:
        print(json.dumps({"plates": [r.to_json() for r in readings]}, ensure_ascii=False))
    else:
        print(f"{args.image}: {len(readings)} plate(s)")
        for r in readings:
            print(f"  {r.text}  {r.colour:<6} {r.confidence:.2f}  {[round(v) for v in r.box]}")
    return 0


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from service.db.session import make_engine, upgrade
    from service.demo import seed_demo

    video = SAMPLES / "fire-lane-demo.webm"
    truth_path = SAMPLES / "fire-lane-demo.truth.json"
    zones_path = SAMPLES / "fire-lane-demo.zones.json"
    if not video.exists() or not truth_path.exists():
        raise SourceError(f"demo sample missing in {SAMPLES} (run from a checkout: pip install -e .)")
    truth = json.loads(truth_path.read_text(encoding="utf-8"))
    camera = load_zones(zones_path)
    explicit, imgsz = _sizes(args, settings, camera)
    camera = replace(camera, imgsz=explicit)
    source = open_source(str(video), fps=args.fps or settings.fps, tz=camera.timezone,
                         start=datetime.fromisoformat(truth["start"]))
    out_dir = Path(args.out) if args.out else settings.out_dir / "demo"
    demo_settings = settings.model_copy(update={"out_dir": out_dir, "evidence_dir": None, "evidence_url": None,
                                                "database_url": args.db or settings.database_url})
    database_url = demo_settings.database_url_for(out_dir)
    engine = make_engine(database_url)
    upgrade(engine)
    logins = seed_demo(engine, video, zones_path, out_dir)
    engine.dispose()

    detector = _detector(args, settings, imgsz)
    print(f"firelane demo: {video.name} ({truth['duration_s']:.0f} s of a fixed camera over a fire lane), "
          f"detector {detector.name}")
    report = run_camera(source, camera, detector, demo_settings, out_dir, database_url, progress=not args.quiet)
    _print_report(report)
    intact = all(not verify_manifest(r.evidence.folder) for r in report.violations)
    expected = truth["expected_violations"]
    matches = intact and len(report.violations) == expected
    print(f"ground truth: {expected} violation(s) expected, {len(report.violations)} found; "
          f"evidence hashes {'match' if intact else 'DO NOT match'} their manifests")
    if args.no_serve:
        return 0 if matches else 1

    import uvicorn

    from service.api.app import create_app

    host, port = settings.host, args.port or settings.port
    print(f"\nweb UI: http://{host}:{port}/  (API docs: http://{host}:{port}/docs; Ctrl-C stops)")
    for username, (role, password) in logins.items():
        print(f"  login {username:<9} password {password:<14} ({role})")
    print(f"  (also in {out_dir / 'logins.txt'})", flush=True)
    uvicorn.run(create_app(demo_settings, background=True), host=host, port=port, log_level="warning")
    return 0 if matches else 1


def _ratio(value: float | None) -> str:
    return "  n/a" if value is None else f"{value:5.2f}"


def _tile_cost(result: dict) -> str:
    cost = result["tile_cost"]
    if not cost:
        return ""
    return f" (median: full frame {cost['full_frame_ms']} ms + tiles {cost['tiles_ms']} ms, x{cost['ratio']})"


def cmd_eval(args: argparse.Namespace, settings: Settings) -> int:
    from service.evaluation.evaluate import evaluate_pklot, evaluate_video, read_events_file

    if args.kind == "plates":
        return _eval_plates(args, settings)
    if args.kind == "pklot":
        sequences = []
        for folder in map(Path, args.paths):
            found = sorted(p for p in folder.glob("sequence*") if p.is_dir()) or [folder]
            sequences += [p for p in found if (p / "bounding_boxes").is_dir()]
        if not sequences:
            raise SourceError(f"no PKLot sequence (frames/ + bounding_boxes/) under {', '.join(args.paths)}")
        detector = _detector(args, settings, args.imgsz or settings.imgsz)
        result = evaluate_pklot(sequences, detector, grace_s=args.grace_s, imgsz=args.imgsz, max_imgsz=settings.imgsz,
                                tiles=args.tiles)
        if args.json:
            print(json.dumps(result, ensure_ascii=False, indent=2))
            return 0
        occ, ev = result["occupancy"], result["events"]
        layout = result["sequences"][0]["tiles"]  # the same spaces in every sequence
        tiles = f" + {layout['count']} tile(s)" if layout else ""
        print(f"PKLot {len(sequences)} sequence(s), detector {result['detector']} at imgsz {result['imgsz']}{tiles}, "
              f"grace {args.grace_s:.0f} s, {result['detect_ms']} ms per detection{_tile_cost(result)}")
        print("                      P     R    F1    tp   fp   fn")
        print(f"space occupancy   {_ratio(occ['precision'])} {_ratio(occ['recall'])} {_ratio(occ['f1'])} "
              f"{occ['tp']:5d}{occ['fp']:5d}{occ['fn']:5d}")
        print(f"violation events  {_ratio(ev['precision'])} {_ratio(ev['recall'])} {_ratio(ev['f1'])} "
              f"{ev['tp']:5d}{ev['fp']:5d}{ev['fn']:5d}")
        return 0

    if len(args.paths) != 1 or not args.zones:
        raise SystemExit("firelane: eval video takes one VIDEO and --zones FILE")
    camera = load_zones(args.zones)
    explicit, imgsz = _sizes(args, settings, camera)
    camera = replace(camera, imgsz=explicit)
    start = _parse_time(args.start, camera) if args.start else datetime(2000, 1, 1, tzinfo=camera.timezone)
    source = open_source(args.paths[0], fps=args.fps or settings.fps, tz=camera.timezone, start=start)
    truth = read_events_file(Path(args.events), start) if args.events else []
    result = evaluate_video(source, camera, _detector(args, settings, imgsz), truth,
                            gate_max_skip_s=None if args.no_gate else 5.0, max_imgsz=settings.imgsz, tiles=args.tiles)
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
        return 0
    ev = result["events"]
    tiles = f" + {result['tiles']['count']} tile(s)" if result["tiles"] else ""
    print(f"{result['source']}: {result['frames']} frames ({result['hours'] * 60:.1f} min), detector "
          f"{result['detector']} at imgsz {result['imgsz']}{tiles}, ran on {result['detector_calls']} frames, "
          f"{result['detect_ms']} ms per detection{_tile_cost(result)}")
    print(f"true events {result['true_events']}, predicted {ev['tp'] + ev['fp']}: "
          f"P {_ratio(ev['precision'])}  R {_ratio(ev['recall'])}  (tp {ev['tp']} fp {ev['fp']} fn {ev['fn']})")
    for name in ("start_error", "end_error"):
        if ev[name]:
            print(f"{name.replace('_', ' ')}: mean |e| {ev[name]['mean_abs_s']} s, median {ev[name]['median_s']} s")
    print(f"false violations per hour: {result['false_violations_per_hour']}; "
          f"vehicles seen entering zones: {result['vehicles_seen_in_zones']}")
    return 0


def _eval_plates(args: argparse.Namespace, settings: Settings) -> int:
    from detector.plates import PlateReader
    from service.evaluation.plates import evaluate_plates

    labels = [Path(p) for p in args.paths]
    for path in labels:
        if not path.is_file():
            raise SourceError(f"{path}: no such labels file (a CSV of file,plate,...)")
    reader = PlateReader(min_confidence=settings.plate_min_confidence)
    results = {str(path): evaluate_plates(reader, path) for path in labels}
    if args.json:
        print(json.dumps(results, ensure_ascii=False, indent=2))
        return 0
    for path, r in results.items():
        colours = f", colour right {r['colour_accuracy']:.0%}" if r["colour_accuracy"] is not None else ""
        print(f"{path}: {r['exact']}/{r['images']} exact ({r['accuracy']:.0%}) at confidence >= "
              f"{settings.plate_min_confidence}, {len(r['wrong'])} wrong, {len(r['unread'])} unread{colours}; "
              f"{r['ms_per_image']} ms per image")
        for wrong in r["wrong"]:
            print(f"  wrong: {wrong['plate']} read as {wrong['read']} ({wrong['confidence']})")
    return 0


def _public_key(args: argparse.Namespace, settings: Settings):
    from service.signing import ManifestSigner, load_public_key

    if args.public_key:
        try:
            return load_public_key(Path(args.public_key).read_bytes())
        except (OSError, ValueError) as error:
            raise SystemExit(f"firelane: --public-key {args.public_key}: {error}") from None
    if not settings.signing_key_path.is_file():
        raise SystemExit(f"firelane: no signing key at {settings.signing_key_path}; give --public-key PEM")
    return ManifestSigner.load_or_create(settings.signing_key_path).public_key


def cmd_key(args: argparse.Namespace, settings: Settings) -> int:
    from service.signing import ManifestSigner, key_id, public_key_pem

    public = ManifestSigner.load_or_create(settings.signing_key_path).public_key
    print(f"# firelane evidence key {key_id(public)} (Ed25519; private key in {settings.signing_key_path})")
    print(public_key_pem(public), end="")
    return 0


def cmd_verify(args: argparse.Namespace, settings: Settings) -> int:
    from service.evidence_store import S3_SCHEME, evidence_store, open_store
    from service.verify import verify_database, verify_path

    target = args.path or settings.evidence_url or str(settings.evidence_root)  # default: this installation's store
    if not target.startswith(S3_SCHEME) and not Path(target).exists():
        raise SourceError(f"{target}: no such file or folder")
    report = verify_path(target, _public_key(args, settings), settings)
    if args.db:
        from sqlalchemy import select

        from service.db.models import Violation
        from service.db.session import make_engine

        engine = make_engine(args.db)
        with engine.connect() as connection:
            rows = connection.execute(select(Violation.id, Violation.evidence_dir, Violation.manifest_sha256)).all()
        engine.dispose()
        store = open_store(target, settings) if args.path else evidence_store(settings)
        verify_database(store, [tuple(r) for r in rows], report)
    for problem in report.problems:
        print(f"FAIL {problem}")
    for note in report.notes:
        print(f"NOTE {note}")
    print(f"{report.checked} violation folder(s) checked: "
          f"{'intact, signed and chained' if report.ok else f'{len(report.problems)} problem(s)'}")
    return 0 if report.ok else 1


def cmd_seal(args: argparse.Namespace, settings: Settings) -> int:
    """Evidence recorded before this installation signed evidence cannot be exported; sealing signs what still
    matches its manifest, labelled as sealed later."""
    from datetime import datetime, timezone

    from service.evidence_store import evidence_store
    from service.signing import ManifestSigner
    from service.verify import seal_unsigned

    if not settings.signing_key_path.is_file():
        raise SystemExit(f"firelane: no signing key at {settings.signing_key_path}: seal with the installation's key")
    report = seal_unsigned(evidence_store(settings), ManifestSigner.load_or_create(settings.signing_key_path),
                           datetime.now(timezone.utc), dry_run=args.dry_run)
    for problem in report.problems:
        print(f"FAIL {problem}")
    for note in report.notes:
        print(note)
    done = "to seal" if args.dry_run else "sealed"
    print(f"{report.checked} unsigned violation(s) {done}; {len(report.problems)} problem(s) left unsigned")
    return 0 if report.ok else 1


def cmd_soak(args: argparse.Namespace, settings: Settings) -> int:
    from service.soak import soak

    result = soak(args.violations)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{result['violations']} violations over {result['frames']} frames of {result['frame_size'][0]}x"
              f"{result['frame_size'][1]} in {result['seconds']} s")
        print(f"memory per violation after warm-up: Python heap {result['python_heap_kib_per_violation']} KiB, "
              f"RSS {result['rss_kib_per_violation']} KiB  (heap {result['python_heap_mib']}, RSS {result['rss_mib']} MiB)")
    return 0


def cmd_bench(args: argparse.Namespace, settings: Settings) -> int:
    from service.bench import STAGES, bench

    camera = load_zones(args.zones)
    explicit, imgsz = _sizes(args, settings, camera)
    camera = replace(camera, imgsz=explicit)
    start = _parse_time(args.start, camera) if args.start else datetime(2000, 1, 1, tzinfo=camera.timezone)
    fps = args.fps or settings.fps

    def make_source():
        return open_source(args.source, fps=fps, tz=camera.timezone, start=start)

    make_source()  # fail early on a bad source, before loading a model
    if args.ray:
        return _bench_cluster(args, settings, make_source, explicit, imgsz)
    detector = model = _detector(args, settings, imgsz)
    layout = None
    if args.tiles != "off":
        detector = TiledDetector(detector, camera.frame_size, [z.polygon for z in camera.zones], tiles=args.tiles,
                                 max_imgsz=settings.imgsz)
        layout = detector.layout(camera.frame_size, explicit)[1].to_json()
    result = {**bench(make_source, camera, detector, settings, extra_cameras=args.cameras, repeat=args.repeat,
                      batch=args.batch, model=model, shared_cameras=args.shared),
              "imgsz": imgsz, "tiles": layout}
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
        return 0
    e2e, gated = result["end_to_end"], result["end_to_end_gated"]
    tiles = f" + {layout['count']} tile(s) enlarged {layout['enlargement']}x" if layout and layout["count"] else ""
    print(f"{result['source']}: {result['frames']} frames, detector {result['detector']} at imgsz {imgsz}{tiles}")
    print(f"machine: {result['machine']}")
    print(f"raw detector        {result['raw_detector']['fps']:7.2f} frames/s  ({result['raw_detector']['ms_per_frame']} ms)"
          f"  median of {result['repeat']}")
    print(f"end to end          {e2e['fps']:7.2f} frames/s  ratio {result['ratio_end_to_end_to_raw']:.2f}")
    print(f"end to end, gated   {gated['fps']:7.2f} frames/s  ratio {result['ratio_gated_to_raw']:.2f}  "
          f"(detector on {gated['detector_calls']} of {gated['frames']} frames)")
    if shared := result["shared_model_gated"]:
        print(f"{shared['cameras']} cameras, one model {shared['fps']:7.2f} frames/s in all, gated  ratio "
              f"{shared['ratio_to_raw']:.2f}  (as serve runs them: a thread each, the model behind a lock)")
    print("ms per frame by stage (every frame / gated):")
    for stage in STAGES:
        print(f"  {stage:<12} {e2e['ms_per_frame_by_stage'][stage]:8.2f} {gated['ms_per_frame_by_stage'][stage]:8.2f}")
    print(f"cameras at 1 fps on this machine: {result['cameras_at_1fps']['every_frame']} "
          f"(every frame), {result['cameras_at_1fps']['gated']} (gated, depends on how still the scene is)")
    batched = result["batching"]
    print(f"{batched['cameras']} cameras on one model: {batched['lock_fps']:.2f} frames/s one at a time behind a "
          f"lock, {batched['batched_fps']:.2f} in batches of up to {batched['max_batch']} (mean "
          f"{batched['mean_batch']}): ratio {batched['ratio_batched_to_lock']:.2f}")
    print(f"peak RSS {result['peak_rss_mb']} MiB; each extra camera sharing the model: "
          f"{result['rss_mb_per_extra_camera']} MiB")
    return 0


def _bench_cluster(args: argparse.Namespace, settings: Settings, make_source, explicit: int | None, imgsz: int) -> int:
    """The nodes' detectors of a running Ray cluster, 1 to N nodes, batched and one frame at a time."""
    from service.cluster.bench import cluster_bench

    frames = [frame.image for frame in make_source().frames()][:16]
    settings = settings.model_copy(update={"model": args.model or settings.model, "imgsz": imgsz})
    result = cluster_bench(args.ray, settings, frames, explicit, cameras_per_node=args.batch,
                           seconds=args.seconds, batch=args.batch)
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
        return 0
    print(f"Ray cluster {result['address']}: nodes {', '.join(result['nodes'])}; {result['cameras_per_node']} cameras "
          f"per node sending frames as fast as they are answered, {result['seconds']:.0f} s per run")
    print(f"nodes | one at a time: frames/s, efficiency | batched ≤ {args.batch}: frames/s, mean batch, efficiency "
          "| batched ÷ one at a time")
    for single, batched, ratio in zip(result["one_at_a_time"], result["batched"],
                                      result["ratio_batched_to_one_at_a_time"], strict=True):
        print(f"{single['nodes']:>5} | {single['fps']:8.2f} {single['scaling_efficiency']:5.2f} | "
              f"{batched['fps']:8.2f} {batched['mean_batch']:5.2f} {batched['scaling_efficiency']:5.2f} | {ratio:.2f}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="firelane", description="Fire-lane occupancy monitoring.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    commands = parser.add_subparsers(dest="command", required=True)

    def detector_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--model", help="weights file/folder, a name in models/, or 'ssd-coco' (default: resolved)")
        p.add_argument("--imgsz", type=int, help="inference size, even above the frame's (default: the zone file's, "
                       "else the frame's native size or less as its zones allow, at most FIRELANE_IMGSZ)")

    def tiles_option(p: argparse.ArgumentParser, default: str = "off") -> None:
        p.add_argument("--tiles", choices=TILE_MODES, default=default, help="also detect on enlarged tiles over the "
                       f"zones: auto = where their objects are small, as cameras do (default {default})")

    run = commands.add_parser("run", help="watch a video, stream, folder of stills or image for violations")
    run.add_argument("source", help="video file, rtsp:// or http:// URL, folder of timed stills, or an image")
    run.add_argument("--zones", required=True, help="zone file (JSON/YAML) of this camera")
    detector_options(run)
    run.add_argument("--fps", type=float, help="frames sampled per second of video (default 2)")
    run.add_argument("--start", help="capture time of the video's first frame (ISO-8601; default: file time)")
    run.add_argument("--out", help="output folder (default firelane-out)")
    run.add_argument("--db", help="SQLAlchemy database URL (default: SQLite in the output folder)")
    run.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    run.add_argument("--no-gate", action="store_true", help="run the detector on every frame, even in still scenes")
    run.add_argument("--stream-timeout", type=_positive_seconds, default=30.0, metavar="S",
                     help="a stream that delivers no frame for S seconds ends the run (never opened: exit 3)")
    run.add_argument("--db-wait", type=_positive_seconds, default=30.0, metavar="S",
                     help="at the end, wait up to S seconds for an unreachable database (then exit 6)")
    run.set_defaults(handler=cmd_run)

    detect = commands.add_parser("detect", help="detect objects in one image and say which zones they occupy")
    detect.add_argument("image")
    detect.add_argument("--zones", required=True)
    detector_options(detect)
    detect.add_argument("--json", action="store_true", help="print JSON")
    detect.set_defaults(handler=cmd_detect)

    plate = commands.add_parser("plate", help="read every licence plate in an image (scene, vehicle or plate crop)")
    plate.add_argument("image")
    plate.add_argument("--json", action="store_true", help="print JSON")
    plate.set_defaults(handler=cmd_plate)

    demo = commands.add_parser("demo", help="run the bundled sample end to end")
    detector_options(demo)
    demo.add_argument("--fps", type=float)
    demo.add_argument("--out", help="output folder (default firelane-out/demo)")
    demo.add_argument("--db", help="database URL (default: SQLite in the output folder)")
    demo.add_argument("-q", "--quiet", action="store_true")
    demo.add_argument("--no-serve", action="store_true", help="stop after the run instead of serving the web UI")
    demo.add_argument("--port", type=int, help="web UI port (default 8000)")
    demo.set_defaults(handler=cmd_demo)

    evaluate = commands.add_parser("eval", help="score accuracy on annotated footage")
    evaluate.add_argument("kind", choices=["pklot", "video", "plates"])
    evaluate.add_argument("paths", nargs="+", help="pklot: dataset or sequence folders; video: one video; "
                          "plates: labels CSVs (file,plate[,colour]) beside their images")
    detector_options(evaluate)
    evaluate.add_argument("--grace-s", type=float, default=300.0, help="pklot: grace time of violation events")
    evaluate.add_argument("--zones", help="video: zone file")
    evaluate.add_argument("--events", help="video: true occupations [{zone_id, start, end}] (ISO or seconds)")
    evaluate.add_argument("--start", help="video: capture time of the first frame")
    evaluate.add_argument("--fps", type=float)
    evaluate.add_argument("--no-gate", action="store_true")
    tiles_option(evaluate)
    evaluate.add_argument("--json", action="store_true")
    evaluate.set_defaults(handler=cmd_eval)

    verify = commands.add_parser("verify", help="check evidence: a violation folder, an exported ZIP or the store")
    verify.add_argument("path", nargs="?", help="a violation folder, an exported ZIP, an evidence folder or an "
                        "s3://bucket/prefix URL (default: this installation's evidence store)")
    verify.add_argument("--public-key", help="PEM file of the installation's public key (default: this installation's)")
    verify.add_argument("--db", help="database URL: also check every violation row against the store")
    verify.set_defaults(handler=cmd_verify)
    seal = commands.add_parser("seal", help="sign evidence recorded before evidence was signed (labelled as such), "
                               "where its files still match its manifest")
    seal.add_argument("--dry-run", action="store_true", help="only say what would be sealed")
    seal.set_defaults(handler=cmd_seal)
    key = commands.add_parser("key", help="print the public key that verifies this installation's evidence")
    key.set_defaults(handler=cmd_key)
    soak = commands.add_parser("soak", help="many violations through one camera: memory per violation")
    soak.add_argument("--violations", type=int, default=120, choices=range(20, 100001), metavar="N")
    soak.add_argument("--json", action="store_true")
    soak.set_defaults(handler=cmd_soak)
    benchmark = commands.add_parser("bench", help="measure detector and end-to-end throughput on a source")
    benchmark.add_argument("source")
    benchmark.add_argument("--zones", required=True)
    detector_options(benchmark)
    benchmark.add_argument("--fps", type=float)
    benchmark.add_argument("--start", help="capture time of the first frame")
    benchmark.add_argument("--cameras", type=int, default=3, help="extra cameras sharing the model, for memory")
    benchmark.add_argument("--repeat", type=int, default=3, help="alternate raw and end-to-end runs; medians")
    benchmark.add_argument("--shared", type=int, default=2, metavar="CAMERAS",
                           help="also run this many cameras at once on the one model, whole path (0: skip)")
    benchmark.add_argument("--ray", metavar="ADDRESS", help="instead: the detectors of this Ray cluster's nodes, on "
                           "1 to all of its nodes, batched and one frame at a time")
    benchmark.add_argument("--seconds", type=float, default=20.0, help="with --ray: length of each run")
    benchmark.add_argument("--batch", type=int, default=8, help="cameras (and largest batch) for the batching "
                           "measure: one model behind a lock against dynamic batches")
    tiles_option(benchmark, default="auto")  # what cameras run, so raw and end to end compare alike
    benchmark.add_argument("--json", action="store_true")
    benchmark.set_defaults(handler=cmd_bench)

    from service.api.cli import add_commands  # serve, db upgrade
    from service.reports.cli import add_report_command  # report
    add_report_command(commands)
    add_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="firelane: %(levelname)s: %(message)s" if args.verbose else "firelane: %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("alembic", "ultralytics", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        return args.handler(args, get_settings())
    except ZoneFileError as error:
        print(f"firelane: invalid zone file {error.source}:", file=sys.stderr)
        for problem in error.problems:
            print(f"  - {problem}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except SourceError as error:
        print(f"firelane: {error}", file=sys.stderr)
        return EXIT_SOURCE
    except DetectorError as error:
        print(f"firelane: {error}", file=sys.stderr)
        return EXIT_MODEL


if __name__ == "__main__":
    sys.exit(main())
