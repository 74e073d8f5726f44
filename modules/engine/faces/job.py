"""Face restoration inside one generation job (A1111's restore_faces): each picture after decode and before
colour correction, the inpaint overlay and saving, with the restorer and weight the request carries."""

from __future__ import annotations

from PIL import Image

from modules.core.requests import GenerationRequest
from modules.engine.faces.restorers import FaceRestoreError, FaceRestorers


class JobFaces:
    """Restores a job's pictures one by one; counts those where no face was found, for one note at the end."""

    def __init__(self, faces: FaceRestorers, request: GenerationRequest) -> None:
        self.faces, self.request = faces, request
        self.pictures = 0
        self.without_face = 0

    def __call__(self, image: Image.Image) -> Image.Image:
        self.pictures += 1
        out, regions = self.faces.restore(image, self.request.face_restorer, 1.0, self.request.codeformer_weight)
        if not regions:
            self.without_face += 1
        return out

    def restore_all(self, images: list[Image.Image]) -> list[Image.Image]:
        return [self(image) for image in images]

    def notes(self) -> list[str]:
        if not self.without_face:
            return []
        which = "the picture" if self.pictures == 1 else f"{self.without_face} of {self.pictures} pictures"
        return [f"Restore faces: no face was found in {which}, left as drawn (the detector finds faces seen from "
                "the front, at least 20 pixels wide)."]


def job_faces(request: GenerationRequest, faces: FaceRestorers | None) -> JobFaces | None:
    """The job's restorer, or None when the request does not ask for one."""
    if not request.restore_faces:
        return None
    if faces is None:  # `check_request` refuses this at submit time; a direct caller gets the same message
        raise FaceRestoreError("Face restoration is not set up on this server (no face restorer folders).")
    return JobFaces(faces, request)
