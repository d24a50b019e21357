"""The fake task's settings; its data: 200 points of y = 2x + 1 in a CSV file."""
import dataclasses
import os
from typing import ClassVar, Mapping, Sequence

from pipelines.config import PipelineConfig
from trainer.fake import specs


@dataclasses.dataclass
class LineConfig(PipelineConfig):
    task: ClassVar[str] = specs.TASK
    specs: ClassVar[Mapping] = specs.MODELS
    corpus: str = "points"
    models: Sequence[str] = ("line",)

    def resolve_data_dir(self) -> str:
        folder = self.given_data_dir() or os.path.join(self.cache_dir, "points")
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, "points.csv"), "w", encoding="utf-8") as f:
            f.write("x,y\n" + "".join(f"{i / 200:.4f},{2 * i / 200 + 1:.4f}\n"
                                      for i in range(200)))
        return folder

    def trainer_config(self, model: str):
        return {"epochs": self.epochs or self.spec(model).epochs}
