"""Models of the benchmarks: the CIFAR ResNet of He et al. (2016) and a GPT-2-shaped LM."""

from ohgw.models.gpt import GPT
from ohgw.models.gpt import GPTConfig
from ohgw.models.resnet import CifarResNet
from ohgw.models.resnet import resnet20

__all__ = ["GPT", "CifarResNet", "GPTConfig", "resnet20"]
