"""The torchvision fixture corpus: `make-torch-fixture.py zoo [--small] [--out DIR] [--models a,b]`.

Each model (32x32 RGB inputs, 10 classes, every Dropout and stochastic depth at 0 so torch's
reference is deterministic) is exported by torch.onnx.export in eval mode with its BatchNorm
layers kept (training=PRESERVE, do_constant_folding=False) and written as CASE.onnx, with torch's
references in CASE.json (an index) and CASE.bin (float32 little-endian arrays at the index's
offsets). A case is MODEL_FORM_EXPORT:

  form    fresh    the constructor's initial weights: BN weights all 1, biases and running
                   means 0, running variances 1, so the exporter deduplicates equal initializers
                   behind Identity nodes;
          trained  every parameter and BN statistic perturbed, so no two are equal.
  export  op17     opset 17;   op13: opset 13 (BatchNormalization-9 forms).

References (batch of 8, fixed seed):
  loss64, loss32        train-mode mean cross-entropy in float64 and in float32
  params[]              every parameter torch trains: its name (the ONNX initializer or Identity
                        output it is exported as), shape, the float64 gradient of loss64 (stored
                        as float32) and `err32`, torch's own float32 error max|g32 - g64|
  stats[]               BN running statistics after that one train-mode forward (float64), with
                        momentum and the unbiased batch variance as torch updates them, and err32
  grad_x_eval           d sum(CE) / d x in eval mode (float64), and grad_x_eval_err32
--small writes the narrow variants the tests use (same building blocks, a few thousand to
~100k parameters); the default writes the full-size torchvision models.
"""
import argparse
import copy
import json
import os

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision.models as tv
from torchvision.models import convnext, densenet, efficientnet, mnasnet, mobilenetv3, regnet, resnet, shufflenetv2, squeezenet
from torchvision.ops import StochasticDepth

CLASSES = 10
BATCH = 8
SHAPE = (3, 32, 32)


class SmallResNet(nn.Module):
    """torchvision's BasicBlock in a narrow two-stage ResNet (the stem and head of resnet18)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        down = nn.Sequential(nn.Conv2d(8, 16, 1, 2, bias=False), nn.BatchNorm2d(16))
        self.layer1 = nn.Sequential(resnet.BasicBlock(8, 8), resnet.BasicBlock(8, 8))
        self.layer2 = nn.Sequential(resnet.BasicBlock(8, 16, 2, down), resnet.BasicBlock(16, 16))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, CLASSES)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer2(self.layer1(x))
        return self.fc(torch.flatten(self.avgpool(x), 1))


class SmallSqueezeNet(nn.Module):
    """torchvision's Fire modules in SqueezeNet 1.1's layout (ceil-mode max-pools, conv classifier), narrow."""

    def __init__(self):
        super().__init__()
        fire = squeezenet.Fire
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, 3, 2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, ceil_mode=True),
            fire(16, 8, 16, 16), fire(32, 8, 16, 16), nn.MaxPool2d(3, 2, ceil_mode=True), fire(32, 16, 32, 32))
        self.classifier = nn.Sequential(nn.Dropout(0.5), nn.Conv2d(64, CLASSES, 1), nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(1))

    def forward(self, x):
        return torch.flatten(self.classifier(self.features(x)), 1)


def small_efficientnet():
    mb = efficientnet.MBConvConfig
    setting = [mb(1, 3, 1, 8, 8, 1), mb(6, 3, 2, 8, 16, 1), mb(6, 5, 2, 16, 24, 1)]
    return efficientnet.EfficientNet(setting, dropout=0.0, stochastic_depth_prob=0.0, num_classes=CLASSES, last_channel=64)


def small_mobilenet_v3():
    setting, _ = mobilenetv3._mobilenet_v3_conf('mobilenet_v3_small', width_mult=0.25)
    return mobilenetv3.MobileNetV3(setting[:5], last_channel=64, num_classes=CLASSES)


def small_convnext():
    c = convnext.CNBlockConfig
    return convnext.ConvNeXt([c(16, 32, 1), c(32, 64, 1), c(64, None, 1)], num_classes=CLASSES)


def small_regnet():
    return regnet.RegNet(regnet.BlockParams.from_init_params(depth=3, w_0=8, w_a=8.0, w_m=2.0, group_width=8), num_classes=CLASSES)


def small_googlenet():
    m = tv.googlenet(num_classes=CLASSES, aux_logits=False, init_weights=True, transform_input=False)
    return m


FULL = {
    'resnet18': lambda: tv.resnet18(num_classes=CLASSES),
    'mobilenet_v2': lambda: tv.mobilenet_v2(num_classes=CLASSES),
    'mobilenet_v3_small': lambda: tv.mobilenet_v3_small(num_classes=CLASSES),
    'efficientnet_b0': lambda: tv.efficientnet_b0(num_classes=CLASSES),
    'densenet121': lambda: tv.densenet121(num_classes=CLASSES),
    'shufflenet_v2_x0_5': lambda: tv.shufflenet_v2_x0_5(num_classes=CLASSES),
    'squeezenet1_1': lambda: tv.squeezenet1_1(num_classes=CLASSES),
    'regnet_x_400mf': lambda: tv.regnet_x_400mf(num_classes=CLASSES),
    'convnext_tiny': lambda: tv.convnext_tiny(num_classes=CLASSES),
    'googlenet': lambda: tv.googlenet(num_classes=CLASSES, aux_logits=False, init_weights=True, transform_input=False),
    'mnasnet0_5': lambda: tv.mnasnet0_5(num_classes=CLASSES),
}

SMALL = {
    'resnet': SmallResNet,
    'mobilenet_v2': lambda: tv.mobilenet_v2(num_classes=CLASSES, width_mult=0.25, inverted_residual_setting=[[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 1, 2]]),
    'mobilenet_v3': small_mobilenet_v3,
    'efficientnet': small_efficientnet,
    'densenet': lambda: densenet.DenseNet(growth_rate=8, block_config=(2, 2, 2, 2), num_init_features=16, num_classes=CLASSES),
    'shufflenet_v2': lambda: shufflenetv2.ShuffleNetV2([1, 1, 1], [8, 16, 32, 64, 128], num_classes=CLASSES),
    'squeezenet': SmallSqueezeNet,
    'regnet_x': small_regnet,
    'convnext': small_convnext,
    'mnasnet': lambda: mnasnet.MNASNet(0.2, num_classes=CLASSES),
}


def deterministic(m):
    """Every Dropout and stochastic depth off: torch's train-mode reference is then deterministic."""
    for mod in m.modules():
        if isinstance(mod, (nn.Dropout, nn.Dropout2d, StochasticDepth)):
            mod.p = 0.0
    return m


def perturb(m, gen):
    """The trained-like form: every parameter and BN statistic moved so no two initializers are equal."""
    with torch.no_grad():
        for p in m.parameters():
            s = float(p.std()) if p.numel() > 1 else 0.0
            p.add_(torch.randn(p.shape, generator=gen) * (0.05 * s if s > 0 else 0.05))
        for mod in m.modules():
            if isinstance(mod, nn.modules.batchnorm._BatchNorm):
                mod.running_mean.copy_(torch.randn(mod.running_mean.shape, generator=gen) * 0.1)
                mod.running_var.copy_(torch.rand(mod.running_var.shape, generator=gen) + 0.5)


def train_refs(model, x, y, dtype):
    m = copy.deepcopy(model).to(dtype).train()
    loss = F.cross_entropy(m(x.to(dtype)), y)
    loss.backward()
    grads = {k: p.grad.detach().double() for k, p in m.named_parameters() if p.requires_grad}
    stats = {k: v.detach().double() for k, v in m.state_dict().items() if k.endswith('running_mean') or k.endswith('running_var')}
    return float(loss), grads, stats


def eval_grad_x(model, x, y, dtype):
    m = copy.deepcopy(model).to(dtype).eval()
    xx = x.to(dtype).clone().requires_grad_(True)
    F.cross_entropy(m(xx), y, reduction='sum').backward()
    return xx.grad


class Blob:
    """Float32 arrays appended to one .bin, addressed by [offset, length] in the JSON index."""

    def __init__(self):
        self.parts, self.size = [], 0

    def add(self, t):
        a = np.ascontiguousarray(t.detach().cpu().numpy(), dtype='<f4').ravel()
        self.parts.append(a.tobytes())
        at = [self.size, int(a.size)]
        self.size += a.size
        return at


def rel(a, b):
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-300))


def export_case(model, name, form, opset, out, x, y):
    case = '%s_%s_op%d' % (name, form, opset)
    path = os.path.join(out, case + '.onnx')
    model.eval()
    torch.onnx.export(model, x, path, opset_version=opset, do_constant_folding=False, training=torch.onnx.TrainingMode.PRESERVE,
                      input_names=['input'], output_names=['logits'], dynamic_axes={'input': {0: 'N'}, 'logits': {0: 'N'}})
    onnx.checker.check_model(onnx.load(path))
    loss64, g64, s64 = train_refs(model, x, y, torch.float64)
    loss32, g32, s32 = train_refs(model, x, y, torch.float32)
    gx64, gx32 = eval_grad_x(model, x, y, torch.float64), eval_grad_x(model, x, y, torch.float32)
    blob = Blob()
    params = [{'name': k, 'shape': list(g.shape), 'grad': blob.add(g), 'err32': float((g32[k] - g).abs().max())} for k, g in g64.items()]
    stats = [{'name': k, 'shape': list(v.shape), 'value': blob.add(v), 'err32': float((s32[k] - v).abs().max())} for k, v in s64.items()]
    momenta = {}
    for mn, mod in model.named_modules():
        if isinstance(mod, nn.modules.batchnorm._BatchNorm):
            momenta[mn] = mod.momentum
    ref = {
        'case': case, 'model': name, 'form': form, 'opset': opset, 'torch': torch.__version__,
        'input_shape': list(SHAPE), 'classes': CLASSES, 'x': blob.add(x), 'y': y.tolist(),
        'loss64': loss64, 'loss32': loss32, 'params': params, 'stats': stats,
        'num_params': sum(p.numel() for p in model.parameters()),
        'grad_x_eval': blob.add(gx64), 'grad_x_eval_err32': float((gx32 - gx64).abs().max()),
        'bn_momentum': sorted(set(momenta.values())),
    }
    with open(os.path.join(out, case + '.bin'), 'wb') as f:
        f.write(b''.join(blob.parts))
    with open(os.path.join(out, case + '.json'), 'w') as f:
        json.dump(ref, f, indent=0)
        f.write('\n')
    worst = max(rel(g32[k], g) for k, g in g64.items() if float(g.abs().max()) > 1e-9)
    print('%-34s %9d params  onnx %6.2f MB  refs %6.2f MB  torch f32 floor %.2e' % (
        case, ref['num_params'], os.path.getsize(path) / 1e6, blob.size * 4 / 1e6, worst), flush=True)


def zoo_main(argv):
    ap = argparse.ArgumentParser(prog='make-torch-fixture.py zoo')
    ap.add_argument('--small', action='store_true', help='the narrow variants the tests use')
    ap.add_argument('--out', default=None)
    ap.add_argument('--models', default='', help='comma-separated subset')
    ap.add_argument('--forms', default='fresh,trained')
    ap.add_argument('--opsets', default='17')
    args = ap.parse_args(argv)
    table = SMALL if args.small else FULL
    here = os.path.dirname(os.path.abspath(__file__))
    out = args.out or os.path.join(here, '..', 'test', 'fixtures', 'zoo' if args.small else '../../.cache/torch-zoo')
    os.makedirs(out, exist_ok=True)
    names = [n for n in args.models.split(',') if n] or list(table)
    for name in names:
        for form in args.forms.split(','):
            for opset in [int(o) for o in args.opsets.split(',')]:
                torch.manual_seed(0)
                model = deterministic(table[name]())
                if form == 'trained':
                    perturb(model, torch.Generator().manual_seed(7))
                g = torch.Generator().manual_seed(1)
                x = torch.rand(BATCH, *SHAPE, generator=g)
                y = torch.randint(0, CLASSES, (BATCH,), generator=g)
                export_case(model, name, form, opset, out, x, y)
