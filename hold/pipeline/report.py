"""What people look at after a run: an overlay video of the reconstruction on the input frames,
a turntable of the object, a loss plot, and one offline HTML report tying them together."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

import numpy as np
import trimesh

from hold.io.images import write_image
from hold.io.mesh import load_mesh
from hold.io.video import write_video

HAND_RGB = np.array([0.95, 0.55, 0.35])
OBJECT_RGB = np.array([0.30, 0.60, 0.95])
# Towards the light, camera frame: up-left and towards the camera.
LIGHT = np.array([-0.3, -0.5, -0.8]) / np.linalg.norm([-0.3, -0.5, -0.8])


def _ray_grid(K: np.ndarray, width: int, height: int) -> np.ndarray:
    u, v = np.meshgrid(np.arange(width, dtype=np.float64), np.arange(height, dtype=np.float64))
    dirs = np.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], np.ones_like(u)], -1)
    dirs = dirs.reshape(-1, 3)
    return dirs / np.linalg.norm(dirs, axis=1, keepdims=True)


def render_meshes(meshes: list[tuple[trimesh.Trimesh, np.ndarray, np.ndarray]], K: np.ndarray,
                  width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Ray-cast meshes through the camera K: [(mesh, pose [4, 4] mesh → camera, rgb)]. Returns
    shaded colour [H, W, 3] float and coverage [H, W] bool; the nearest mesh wins each pixel.
    Rays are moved into each mesh's frame, so a mesh's BVH is built once for all frames."""
    dirs = _ray_grid(K, width, height)
    depth = np.full(len(dirs), np.inf)
    image = np.zeros((len(dirs), 3))
    for mesh, pose, rgb in meshes:
        rot, trans = pose[:3, :3], pose[:3, 3]
        origins = np.tile(-trans @ rot, (len(dirs), 1))  # camera centre in the mesh frame
        local_dirs = dirs @ rot
        locations, rays, tris = mesh.ray.intersects_location(origins, local_dirs,
                                                             multiple_hits=False)
        distance = np.linalg.norm(locations - origins[0], axis=1)
        nearer = distance < depth[rays]
        rays, tris, distance = rays[nearer], tris[nearer], distance[nearer]
        normals = mesh.face_normals[tris] @ rot.T  # camera frame
        normals = normals * np.sign(-(normals * dirs[rays]).sum(1, keepdims=True))  # to camera
        shade = 0.3 + 0.7 * np.clip(normals @ LIGHT, 0, 1)
        image[rays] = rgb * shade[:, None]
        depth[rays] = distance
    mask = np.isfinite(depth)
    return image.reshape(height, width, 3), mask.reshape(height, width)


def overlay_frames(seq, result_dir: Path) -> list[np.ndarray]:
    """Input frames with the reconstructed hand (orange) and object (blue) blended on top."""
    obj = load_mesh(result_dir / "object.obj").to_trimesh()
    poses = np.load(result_dir / "object_poses.npy").astype(np.float64)
    width, height = seq.meta.image_size
    frames = []
    for t in range(seq.num_frames):
        hand = load_mesh(result_dir / "hand_meshes" / f"{t:06d}.obj").to_trimesh()
        color, mask = render_meshes([(hand, np.eye(4), HAND_RGB), (obj, poses[t], OBJECT_RGB)],
                                    seq.meta.K, width, height)
        image = seq.image(t).astype(np.float64) / 255
        blended = np.where(mask[..., None], 0.35 * image + 0.65 * color, image)
        frames.append((blended * 255).astype(np.uint8))
    return frames


def principal_turn(vertices: np.ndarray, up: np.ndarray | None = None) -> np.ndarray:
    """Rotation [3, 3] that stands vertices [N, 3] on the longest side of their tightest turned
    box (along the image's up, −y), with the second longest along x and the shortest along z
    (towards the viewer); the long side points along ``up`` [3] (mesh frame) where given, e.g.
    the video's up in the first frame. The object's own frame is arbitrary (SfM's world, or
    the camera at a reference frame): this shows its shape the same way whatever that frame is."""
    to_box, sides = trimesh.bounds.oriented_bounds(np.asarray(vertices, np.float64))
    axes = to_box[:3, :3]  # rows: the box's axes in the mesh frame
    order = np.argsort(sides)[::-1]  # longest, middle, shortest
    long_axis = axes[order[0]]
    if up is not None and float(long_axis @ up) < 0:
        long_axis = -long_axis
    turn = np.stack([axes[order[1]], -long_axis, axes[order[2]]])  # → x, y (down), z
    if np.linalg.det(turn) < 0:
        turn[0] = -turn[0]
    return turn


def turntable(mesh_path: Path, views: int = 24, size: int = 256,
              up: np.ndarray | None = None) -> list[np.ndarray]:
    """The object mesh seen from `views` directions around its longest axis (``principal_turn``;
    ``up`` [3] in the mesh frame picks which end is on top), from 25° above."""
    mesh = load_mesh(mesh_path).to_trimesh()
    upright = principal_turn(mesh.vertices, up)
    vertices = mesh.vertices @ upright.T
    center = (vertices.max(0) + vertices.min(0)) / 2
    radius = np.linalg.norm(vertices - center, axis=1).max()
    focal = size * 1.2
    K = np.array([[focal, 0, size / 2], [0, focal, size / 2], [0, 0, 1]])
    distance = radius * focal / (size * 0.42)
    frames = []
    for k in range(views):
        a = 2 * np.pi * k / views
        rot = trimesh.transformations.rotation_matrix(np.radians(-25), [1, 0, 0])[:3, :3] @ \
            trimesh.transformations.rotation_matrix(a, [0, 1, 0])[:3, :3] @ upright
        pose = np.eye(4)
        pose[:3, :3] = rot
        pose[:3, 3] = [0, 0, distance] - rot @ (upright.T @ center)
        color, mask = render_meshes([(mesh, pose, OBJECT_RGB)], K, size, size)
        frames.append((np.where(mask[..., None], color, 1.0) * 255).astype(np.uint8))
    return frames


def loss_svg(history: list[tuple[int, float, dict]], width: int = 640, height: int = 300) -> str:
    """A dependency-free SVG plot of the logged loss terms (log scale) against the step."""
    if not history:
        return "<svg xmlns='http://www.w3.org/2000/svg'/>"
    keys = [k for k in history[0][2] if k not in ("samples",)]
    steps = np.array([h[0] for h in history], float)
    colors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
              "#7f7f7f", "#bcbd22", "#17becf"]
    values = {k: np.array([max(h[2].get(k, np.nan), 1e-8) for h in history]) for k in keys}
    logs = np.log10(np.concatenate([v[np.isfinite(v)] for v in values.values()]))
    lo, hi = float(logs.min()), float(logs.max()) + 1e-9
    pad = 40

    def xy(step, value):
        x = pad + (step - steps.min()) / max(steps.max() - steps.min(), 1) * (width - 2 * pad)
        y = height - pad - (np.log10(value) - lo) / (hi - lo) * (height - 2 * pad)
        return f"{x:.1f},{y:.1f}"

    parts = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
             f"font-family='sans-serif' font-size='11'>",
             f"<rect width='{width}' height='{height}' fill='white'/>",
             f"<text x='{pad}' y='15'>loss terms (log10 {lo:.1f} … {hi:.1f}) vs step "
             f"{int(steps.min())}–{int(steps.max())}</text>"]
    for i, k in enumerate(keys):
        points = " ".join(xy(s, v) for s, v in zip(steps, values[k]) if np.isfinite(v))
        color = colors[i % len(colors)]
        parts.append(f"<polyline fill='none' stroke='{color}' stroke-width='1.5' points='{points}'/>")
        parts.append(f"<text x='{width - pad - 80}' y='{pad + 14 * i}' fill='{color}'>{html.escape(k)}</text>")
    parts.append("</svg>")
    return "\n".join(parts)


def _data_uri(path: Path, mime: str) -> str:
    return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode()


def _jpeg_uri(path: Path, max_width: int = 1024) -> str:
    """An image file as a JPEG data URI at most ``max_width`` wide (the front-end's contact sheet
    is a 2048 px PNG: 4x the rest of the report)."""
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image.shape[1] > max_width:
        image = cv2.resize(image, (max_width, round(image.shape[0] * max_width / image.shape[1])),
                           interpolation=cv2.INTER_AREA)
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])
    if not ok:
        raise RuntimeError(f"{path}: could not encode as JPEG")
    return "data:image/jpeg;base64," + base64.b64encode(data.tobytes()).decode()


def inputs_table(provenance: dict) -> str:
    """HTML rows saying where each input came from (meta.json ``provenance``: K, hand, masks,
    object poses, prompts; a front-end's decisions, e.g. a hand moved by its skin check)."""
    return "".join(f"<tr><td>{html.escape(str(key))}</td><td>{html.escape(str(value))}</td></tr>"
                   for key, value in provenance.items())


def write_report(seq, result_dir: Path, history: list, summary: dict, fps: float = 10.0) -> Path:
    """Write overlay.mp4, turntable.mp4, turntable.png, loss.svg and report.html (one file that
    embeds all of them) into result_dir. Returns the report's path."""
    result_dir = Path(result_dir)
    overlay = overlay_frames(seq, result_dir)
    write_video(result_dir / "overlay.mp4", overlay, fps=fps)
    first_pose = np.load(result_dir / "object_poses.npy")[0].astype(np.float64)
    # The video's up (−y in the camera) in the object's frame at the first frame.
    table = turntable(result_dir / "object.obj", up=first_pose[:3, :3].T @ np.array([0.0, -1.0, 0.0]))
    write_video(result_dir / "turntable.mp4", table, fps=fps)
    write_image(result_dir / "turntable.png", np.concatenate(table[::4], axis=1))
    step = max(1, len(overlay) // 6)
    write_image(result_dir / "overlay.png", np.concatenate(overlay[::step][:6], axis=1))
    svg = loss_svg(history)
    (result_dir / "loss.svg").write_text(svg)
    metrics = summary.get("metrics") or {}
    rows = "".join(f"<tr><td>{html.escape(str(k))}</td><td>{v:.3f}</td></tr>"
                   for k, v in metrics.items() if isinstance(v, (int, float)))
    inputs = inputs_table(seq.meta.provenance or {})
    front_end = Path(seq.root) / "debug" / "overlay.png"  # what hold-fast preprocess found
    timings = "".join(f"<tr><td>{html.escape(k)}</td><td>{v:.1f} s</td></tr>"
                      for k, v in summary.get("timings_s", {}).items())
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>hold-fast report</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}}
img,video{{max-width:100%}} td{{padding:2px 12px}} h2{{margin-top:1.5em}}</style></head><body>
<h1>hold-fast reconstruction</h1>
<p>Sequence: <code>{html.escape(str(seq.root))}</code>, {seq.num_frames} frames,
{seq.meta.image_size[0]}×{seq.meta.image_size[1]} px.</p>
{'<h2>Inputs</h2><table>' + inputs + '</table>' if inputs else ''}
{'<h2>What the front-end found</h2><img src="' + _jpeg_uri(front_end) + '">'
 if front_end.is_file() else ''}
<h2>Reconstruction on the input frames</h2>
<video controls loop autoplay muted src="{_data_uri(result_dir / 'overlay.mp4', 'video/mp4')}"></video>
<img src="{_data_uri(result_dir / 'overlay.png', 'image/png')}">
<h2>Object</h2>
<video controls loop autoplay muted src="{_data_uri(result_dir / 'turntable.mp4', 'video/mp4')}"></video>
<img src="{_data_uri(result_dir / 'turntable.png', 'image/png')}">
<h2>Training</h2>{svg}
<h2>Timings</h2><table>{timings}</table>
{'<h2>Metrics</h2><table>' + rows + '</table>' if rows else ''}
<h2>Run summary</h2><pre>{html.escape(json.dumps(
        {k: v for k, v in summary.items() if k != "metrics"}, indent=2, default=str))}</pre>
</body></html>"""
    path = result_dir / "report.html"
    path.write_text(page)
    return path
