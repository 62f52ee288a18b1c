"""Hand-made poses and cameras for the image tests."""

import numpy as np

from weakpose.camera import look_at


def a_pose() -> np.ndarray:
    """An A-pose in a y-up world (mm), facing +z, feet on the floor."""
    right = {
        "hip": (-90, 950, 0), "knee": (-95, 520, 0), "ankle": (-100, 90, 0),
        "shoulder": (-190, 1400, 0), "elbow": (-330, 1150, 0), "wrist": (-420, 930, 0),
    }
    left = {k: (-v[0], v[1], v[2]) for k, v in right.items()}
    j = [
        (0, 950, 0), right["hip"], right["knee"], right["ankle"], left["hip"], left["knee"], left["ankle"],
        (0, 1180, 0), (0, 1420, 0), (0, 1510, 0), (0, 1600, 0),
        left["shoulder"], left["elbow"], left["wrist"], right["shoulder"], right["elbow"], right["wrist"],
    ]
    return np.array(j, dtype=np.float64)


def camera(azimuth_deg: float = 0.0, distance: float = 4000.0, f: float = 500.0, size: int = 256):
    """A camera looking at (0, 900, 0) from ``azimuth_deg`` around the y axis (0 = from +z,
    i.e. facing the A-pose)."""
    az = np.deg2rad(azimuth_deg)
    eye = np.array([distance * np.sin(az), 900.0, distance * np.cos(az)])
    R, t = look_at(eye, np.array([0.0, 900.0, 0.0]))
    K = np.array([[f, 0, (size - 1) / 2], [0, f, (size - 1) / 2], [0, 0, 1.0]])
    return K, R, t


def to_camera(X: np.ndarray, R: np.ndarray, t: np.ndarray) -> np.ndarray:
    return X @ R.T + t
