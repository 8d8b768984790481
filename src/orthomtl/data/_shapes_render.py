"""A procedural renderer with the factor structure of 3D Shapes (Burgess & Kim, 2018).

A scene is a floor seen in perspective (tiled, darker with depth), a back wall, and a shaded object
(cube, cylinder, sphere or capsule) standing on the floor and casting a shadow. Six factors index
the 480,000 scenes, in the label order of ``3dshapes.h5``:

    floor_hue (10), wall_hue (10), object_hue (10), scale (8), shape (4), orientation (15)

Hues are ``0.0, 0.1, ..., 0.9`` in HSV at full saturation and value; scale runs from 0.75 to 1.25
of the base size; orientation turns the object about the vertical axis from -30° to 30°. Every
object carries a dark seam on its front and an albedo gradient around its axis, so rotation is
visible on the rotationally symmetric shapes too.

Geometry and lighting depend only on ``(shape, scale, orientation)``, and colour enters linearly. So
the 480 geometries are ray traced once (lazily, 4×4 supersampled, 1-2 s), each into four
intensity maps: floor, wall, object and specular highlight. A batch is then a gather of maps and a
small matrix product with the per-image colours: ``image = colours (3×4) @ maps (4×HW)``.
"""

import colorsys
from collections.abc import Callable
from functools import cache
from typing import NamedTuple

import numpy as np

from orthomtl.tasks import wrap_angle

FACTOR_NAMES = ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation")
FACTOR_SIZES: tuple[int, ...] = (10, 10, 10, 8, 4, 15)
NUM_COMBINATIONS: int = int(np.prod(FACTOR_SIZES))
SHAPE_NAMES: tuple[str, ...] = ("cube", "cylinder", "sphere", "capsule")
IMAGE_SIZE: int = 64
_SCALE, _SHAPE, _ORIENTATION = 3, 4, 5  # columns of the factors
SCALES: np.ndarray = np.linspace(0.75, 1.25, FACTOR_SIZES[_SCALE])
ORIENTATIONS: np.ndarray = np.deg2rad(np.linspace(-30.0, 30.0, FACTOR_SIZES[_ORIENTATION]))
HUES: np.ndarray = np.array(
    [colorsys.hsv_to_rgb(h / 10, 1.0, 1.0) for h in range(10)], dtype=np.float32
)  # (10, 3) RGB

_SUPERSAMPLE = 4
_CAMERA = np.array([0.0, 2.0, -3.6])
_TARGET = np.array([0.0, 0.55, 0.3])
_FOV_TAN = 0.34  # tan of half the field of view
_WALL_Z = 2.2
_LIGHT = np.array([-0.6, 1.0, -1.0]) / np.linalg.norm([-0.6, 1.0, -1.0])
_AMBIENT, _SPECULAR, _SHININESS = 0.35, 0.2, 24.0
_SEAM_HALF_WIDTH = np.deg2rad(12.0)
_EPS = 1e-6


def _camera_rays() -> np.ndarray:
    """Unit directions (N, 3) of the supersampled pixel grid, in row-major order."""
    n = IMAGE_SIZE * _SUPERSAMPLE
    forward = (_TARGET - _CAMERA) / np.linalg.norm(_TARGET - _CAMERA)
    right = np.cross([0.0, 1.0, 0.0], forward)
    right /= np.linalg.norm(right)
    up = np.cross(forward, right)
    coords = (np.arange(n) + 0.5) / n * 2.0 - 1.0
    py, px = np.meshgrid(-coords, coords, indexing="ij")
    d = forward + _FOV_TAN * (px[..., None] * right + py[..., None] * up)
    d = d.reshape(-1, 3)
    return d / np.linalg.norm(d, axis=1, keepdims=True)


def _rotate_y(v: np.ndarray, angle: float) -> np.ndarray:
    """Rotate vectors (N, 3) by ``angle`` about the vertical axis."""
    c, s = np.cos(angle), np.sin(angle)
    return np.stack([c * v[:, 0] + s * v[:, 2], v[:, 1], -s * v[:, 0] + c * v[:, 2]], axis=1)


Hit = tuple[np.ndarray, np.ndarray]
"""Per ray: distance to the first hit (inf on a miss) and the unit normal there."""


def _sphere(o: np.ndarray, d: np.ndarray, center_y: float, r: float) -> Hit:
    """Sphere of radius ``r`` centred on the y axis at height ``center_y``."""
    oc = o - np.array([0.0, center_y, 0.0])
    b = np.einsum("ij,ij->i", oc, d)
    disc = b * b - (np.einsum("ij,ij->i", oc, oc) - r * r)
    t = -b - np.sqrt(np.maximum(disc, 0.0))
    t = np.where((disc >= 0) & (t > _EPS), t, np.inf)
    return t, (oc + np.where(np.isfinite(t), t, 0.0)[:, None] * d) / r


def _tube(o: np.ndarray, d: np.ndarray, r: float, y0: float, y1: float) -> Hit:
    """Outside of the vertical cylinder of radius ``r`` around the y axis, between y0 and y1."""
    a = d[:, 0] ** 2 + d[:, 2] ** 2
    b = o[:, 0] * d[:, 0] + o[:, 2] * d[:, 2]
    disc = b * b - a * (o[:, 0] ** 2 + o[:, 2] ** 2 - r * r)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (-b - np.sqrt(np.maximum(disc, 0.0))) / a
    y = o[:, 1] + t * d[:, 1]
    t = np.where((disc >= 0) & (a > 0) & (t > _EPS) & (y >= y0) & (y <= y1), t, np.inf)
    p = o + np.nan_to_num(t, posinf=0.0)[:, None] * d
    return t, np.stack([p[:, 0], np.zeros_like(t), p[:, 2]], axis=1) / r


def _disk(o: np.ndarray, d: np.ndarray, r: float, y: float) -> Hit:
    """Upward-facing disk of radius ``r`` at height ``y`` around the y axis."""
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (y - o[:, 1]) / d[:, 1]
    p = o + np.nan_to_num(t, posinf=0.0, neginf=0.0)[:, None] * d
    t = np.where((t > _EPS) & (p[:, 0] ** 2 + p[:, 2] ** 2 <= r * r), t, np.inf)
    return t, np.broadcast_to(np.array([0.0, 1.0, 0.0]), o.shape)


def _box(o: np.ndarray, d: np.ndarray, h: float) -> Hit:
    """Cube of half-side ``h`` standing on the floor, centred on the y axis (slab method)."""
    t_near, t_far, nears = np.full(len(d), -np.inf), np.full(len(d), np.inf), []
    for axis, (lo, hi) in enumerate([(-h, h), (0.0, 2 * h), (-h, h)]):
        with np.errstate(divide="ignore", invalid="ignore"):
            t1, t2 = (lo - o[:, axis]) / d[:, axis], (hi - o[:, axis]) / d[:, axis]
        nears.append(np.fmin(t1, t2))
        t_near, t_far = np.fmax(t_near, nears[-1]), np.fmin(t_far, np.fmax(t1, t2))
    t = np.where((t_near <= t_far) & (t_near > _EPS), t_near, np.inf)
    n = np.stack([-np.sign(d[:, axis]) * (near == t_near) for axis, near in enumerate(nears)], 1)
    return t, n


def _nearest(*hits: Hit) -> Hit:
    ts = np.stack([t for t, _ in hits])
    first = np.argmin(ts, axis=0)
    normals = np.stack([n for _, n in hits])
    return ts[first, np.arange(ts.shape[1])], normals[first, np.arange(ts.shape[1])]


def _intersect(shape: int, o: np.ndarray, d: np.ndarray, s: float) -> Hit:
    """The first hit of each ray on shape ``SHAPE_NAMES[shape]`` of size ``s``, in its frame."""
    if shape == 0:
        return _box(o, d, 0.5 * s)
    if shape == 1:
        r, h = 0.47 * s, 1.05 * s
        return _nearest(_tube(o, d, r, 0.0, h), _disk(o, d, r, h))
    if shape == 2:
        return _sphere(o, d, 0.58 * s, 0.58 * s)
    r, h = 0.36 * s, 1.3 * s
    return _nearest(_tube(o, d, r, r, h - r), _sphere(o, d, r, r), _sphere(o, d, h - r, r))


def _pool(v: np.ndarray) -> np.ndarray:
    """Average each pixel's supersamples: (N,) -> (IMAGE_SIZE**2,)."""
    k = _SUPERSAMPLE
    rows = v.reshape(IMAGE_SIZE, k, -1).sum(axis=1)
    return (sum(rows[:, j::k] for j in range(k)) / k**2).reshape(-1)


class _Scene(NamedTuple):
    """The camera rays, where they meet the room, and which may meet an object or its shadow."""

    origin: np.ndarray  # (N, 3), the camera position
    direction: np.ndarray  # (N, 3) unit vectors
    background: np.ndarray  # (N, 3), where each ray meets the floor or the wall
    floor: np.ndarray  # (N,) unshadowed floor intensity, 0 on the wall
    wall: np.ndarray  # (N,) unshadowed wall intensity, 0 on the floor
    seen: list[np.ndarray]  # per scale, indices of the rays that may hit the object
    lit: list[np.ndarray]  # per scale, indices of the background points it may shade


def _bound(o: np.ndarray, d: np.ndarray, s: float) -> np.ndarray:
    """Indices of the rays that hit a cylinder enclosing every shape of scale ``s`` in any pose."""
    r, h = 0.72 * s, 1.31 * s
    inside = (o[:, 0] ** 2 + o[:, 2] ** 2 <= r * r) & (o[:, 1] <= h)
    enters = np.isfinite(_nearest(_tube(o, d, r, 0.0, h), _disk(o, d, r, h))[0])
    return np.flatnonzero(inside | enters)


def _scene() -> _Scene:
    d = _camera_rays()
    o = np.broadcast_to(_CAMERA, d.shape)
    t_floor = np.where(d[:, 1] < 0, -o[:, 1] / np.minimum(d[:, 1], -_EPS), np.inf)
    floor = o[:, 2] + t_floor * d[:, 2] < _WALL_Z
    t = np.where(floor, t_floor, (_WALL_Z - o[:, 2]) / d[:, 2])
    p = o + t[:, None] * d
    depth = np.clip(p[:, 2] / _WALL_Z, -1.0, 1.0)  # -1 near the camera, 1 at the wall
    grout = np.abs(((p[:, [0, 2]] + 0.25) / 0.5) % 1.0 - 0.5).max(axis=1) > 0.44
    return _Scene(
        origin=o,
        direction=d,
        background=p,
        floor=floor * (0.8 - 0.2 * depth) * np.where(grout, 0.75, 1.0),
        wall=~floor * (0.8 - 0.15 * np.clip(p[:, 1] / 3.0, 0.0, 1.0)),
        seen=[_bound(o, d, s) for s in SCALES],
        lit=[_bound(p, np.broadcast_to(_LIGHT, d.shape), s) for s in SCALES],
    )


def _hits(
    shape: int, s: float, angle: float, o: np.ndarray, d: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Which rays hit the object turned by ``angle``; world normals and object azimuths of hits."""
    o_obj, d_obj = _rotate_y(o, -angle), _rotate_y(d, -angle)
    t, n = _intersect(shape, o_obj, d_obj, s)
    hit = np.isfinite(t)
    p = o_obj[hit] + t[hit, None] * d_obj[hit]
    return hit, _rotate_y(n[hit], angle), np.arctan2(p[:, 0], -p[:, 2])


def _albedo(azimuth: np.ndarray) -> np.ndarray:
    """The object's texture: a dark seam at its front and a brightness gradient around its axis."""
    azimuth = wrap_angle(azimuth)
    return (0.8 + 0.2 * np.sin(azimuth)) * np.where(np.abs(azimuth) < _SEAM_HALF_WIDTH, 0.25, 1.0)


def _trace(
    scene: _Scene, shape: int, scale: int, angle: float
) -> tuple[np.ndarray, Callable[[float], np.ndarray]]:
    """Trace one geometry: a shape at a scale (class index) turned by ``angle``.

    Returns:
        The floor, wall and specular maps (3, IMAGE_SIZE**2), and a function from a further turn of
        the texture alone to the object map (IMAGE_SIZE**2,).
    """
    seen, lit, s = scene.seen[scale], scene.lit[scale], SCALES[scale]
    o, d, n = scene.origin[seen], scene.direction[seen], len(scene.direction)
    hit, normal, azimuth = _hits(shape, s, angle, o, d)
    light = np.broadcast_to(_LIGHT, (len(lit), 3))
    shadow = _hits(shape, s, angle, scene.background[lit], light)[0]
    covered = np.zeros(n, dtype=bool)
    covered[seen[hit]] = True
    lighting = np.ones(n)
    lighting[lit[shadow]] = _AMBIENT
    half = _LIGHT - d[hit]
    half /= np.linalg.norm(half, axis=1, keepdims=True)
    specular = np.zeros(n)
    specular[seen[hit]] = _SPECULAR * np.clip((normal * half).sum(1), 0, 1) ** _SHININESS
    diffuse = _AMBIENT + (1 - _AMBIENT) * np.clip(normal @ _LIGHT, 0.0, 1.0)
    shade = lighting * ~covered
    static = np.stack([_pool(m) for m in (scene.floor * shade, scene.wall * shade, specular)])

    def body(turn: float) -> np.ndarray:
        full = np.zeros(n)
        full[seen[hit]] = diffuse * _albedo(azimuth + turn) * (1 - _SPECULAR)
        return _pool(full)

    return static, body


@cache
def intensity_maps() -> np.ndarray:
    """Maps of every geometry, (shape, scale, orientation, 4, IMAGE_SIZE**2) float32, built once.

    The four maps are the floor, wall, object and specular intensities; a pixel's colour is
    ``floor_rgb * floor + wall_rgb * wall + object_rgb * object + white * specular``, at most 1.
    Only the cube is traced per orientation: the other shapes are symmetric about the vertical
    axis, so turning them only turns their texture. The array is read-only.
    """
    scene = _scene()
    shapes, scales, orientations = (FACTOR_SIZES[k] for k in (_SHAPE, _SCALE, _ORIENTATION))
    maps = np.empty((shapes, scales, orientations, 4, IMAGE_SIZE**2), dtype=np.float32)
    for i in range(scales):
        for j, angle in enumerate(ORIENTATIONS):
            static, body = _trace(scene, 0, i, angle)
            maps[0, i, j, [0, 1, 3]], maps[0, i, j, 2] = static, body(0.0)
        for shape in range(1, shapes):
            static, body = _trace(scene, shape, i, 0.0)
            maps[shape, i, :, [0, 1, 3]] = static[:, None]
            maps[shape, i, :, 2] = [body(angle) for angle in ORIENTATIONS]
    maps.flags.writeable = False
    return maps


def render(factors: np.ndarray) -> np.ndarray:
    """Render scenes from factor classes.

    Args:
        factors: (N, 6) integers, one column per factor in ``FACTOR_NAMES`` order, each in
            ``0..size-1`` with sizes ``FACTOR_SIZES``.

    Returns:
        Images (N, 3, 64, 64), float32 in [0, 1].

    Raises:
        ValueError: if ``factors`` has the wrong shape or type, or a value is out of range.
    """
    f = np.asarray(factors)
    if f.ndim != 2 or f.shape[1] != len(FACTOR_NAMES):
        raise ValueError(
            f"render: factors must have shape (N, {len(FACTOR_NAMES)}), got {f.shape}."
        )
    if not np.issubdtype(f.dtype, np.integer):
        raise ValueError(f"render: factors must be integers, got dtype {f.dtype}.")
    for col, (name, size) in enumerate(zip(FACTOR_NAMES, FACTOR_SIZES, strict=True)):
        bad = np.flatnonzero((f[:, col] < 0) | (f[:, col] >= size))
        if bad.size:
            raise ValueError(
                f"render: factor {name!r} must be in 0..{size - 1}, got {int(f[bad[0], col])} "
                f"(row {int(bad[0])})."
            )
    maps = intensity_maps()
    geometry = np.ravel_multi_index(
        (f[:, _SHAPE], f[:, _SCALE], f[:, _ORIENTATION]), maps.shape[:3]
    )
    colours = np.ones((len(f), 3, 4), dtype=np.float32)
    colours[:, :, :3] = HUES[f[:, :3]].transpose(0, 2, 1)
    images = np.matmul(colours, maps.reshape(-1, 4, IMAGE_SIZE**2)[geometry])
    return images.reshape(len(f), 3, IMAGE_SIZE, IMAGE_SIZE)
