#!/usr/bin/env python3
"""Writes the torch.onnx.export fixtures of test/torch-export.test.ts.

A small ResNet-style classifier (conv-BN-ReLU stem, an ImageNet-style 3x3/2 max-pool with
padding (overlapping windows), one residual block with a 1x1 conv + BN shortcut, a conv-BN-ReLU
layer, adaptive average pooling, flatten via x.view(x.size(0), -1), linear head; 14,062
parameters, input [N, 3, 16, 16], 10 classes) exported five ways from the same weights:

  torch_resnet_op17_bn.onnx    opset 17, training=TrainingMode.PRESERVE on a model in eval mode:
                               BatchNormalization nodes are kept (inference form, running stats
                               as initializers), do_constant_folding=True.
  torch_resnet_op13.onnx       opset 13, the exporter's defaults (training=EVAL): the exporter folds
                               every BN into the preceding Conv, as most exported models look.
  torch_resnet_op13_kiai.onnx  opset 13, training=PRESERVE, keep_initializers_as_inputs=True: the
                               old-IR layout where every initializer is also listed as a graph input.
  torch_resnet_op11.onnx       opset 11, the exporter's defaults (BN folded): Unsqueeze with an axes
                               attribute in the flatten subgraph.
  torch_resnet_op9_bn.onnx     opset 9, training=PRESERVE: BatchNormalization-9 and the attribute
                               forms of opset 9, as old exports and the ONNX model zoo have them.

and torch_resnet_ref.json with the reference values the test compares against (float32 arrays as
base64 of little-endian bytes):

  x, y                     a fixed batch of 4 inputs in [0, 1) and labels
  logits_eval              model.eval()(x)
  grad_x_eval              d sum(CE(model.eval()(x), y)) / d x
  grad_x_train             the same in train mode (BN uses batch statistics; running stats of the
                           saved model are untouched: the state dict is restored afterwards)
  grad_conv1_eval          d sum(CE) / d conv1.weight, eval mode (the first Conv node's weight in the
                           BN-preserving exports)
  grad_conv1_fused_eval    the same for the BN-folded weight of the first Conv node in the
                           torch_resnet_op13.onnx export (computed on a Conv+BN-fused copy)
  grad_fc_eval             d sum(CE) / d fc.weight, eval mode
  params, stats            state_dict names of the parameters and of the BN running statistics

`make-torch-fixture.py zoo ...` writes the torchvision corpus instead (scripts/torch_zoo.py).

Run with Debian's python3-torch 1.13 and python3-onnx:  /usr/bin/python3 scripts/make-torch-fixture.py
The outputs are committed (CI has no torch); rerunning rewrites identical values up to exporter
naming details.
"""
import base64
import copy
import json
import os

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures')


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class TinyResNet(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 12, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(12)
        self.layer1 = Block(12, 24, 2)
        self.conv2 = nn.Conv2d(24, 24, 3, 1, 1, bias=True)
        self.bn2 = nn.BatchNorm2d(24)
        self.pool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(24, classes)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.max_pool2d(x, 3, 2, 1)
        x = self.layer1(x)
        x = F.relu(self.bn2(self.conv2(x)))
        x = self.pool(x)
        x = x.view(x.size(0), -1)
        return self.fc(x)


def b64(t):
    return base64.b64encode(np.ascontiguousarray(t.detach().cpu().numpy(), dtype='<f4').tobytes()).decode('ascii')


def fuse(model):
    """A copy with every BN folded into its conv (what the EVAL-mode exporter does)."""
    m = copy.deepcopy(model).eval()
    fc = torch.nn.utils.fusion.fuse_conv_bn_eval
    m.conv1 = fc(m.conv1, m.bn1); m.bn1 = nn.Identity()
    m.layer1.conv1 = fc(m.layer1.conv1, m.layer1.bn1); m.layer1.bn1 = nn.Identity()
    m.layer1.conv2 = fc(m.layer1.conv2, m.layer1.bn2); m.layer1.bn2 = nn.Identity()
    m.layer1.shortcut = nn.Sequential(fc(m.layer1.shortcut[0], m.layer1.shortcut[1]))
    m.conv2 = fc(m.conv2, m.bn2); m.bn2 = nn.Identity()
    return m


def main():
    torch.manual_seed(0)
    model = TinyResNet()
    # Non-trivial running statistics and BN affine parameters, so eval and train mode differ.
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, nn.BatchNorm2d):
                mod.running_mean.uniform_(-0.2, 0.2)
                mod.running_var.uniform_(0.5, 1.5)
                mod.weight.uniform_(0.8, 1.2)
                mod.bias.uniform_(-0.1, 0.1)
    model.eval()
    nparams = sum(p.numel() for p in model.parameters())

    g = torch.Generator().manual_seed(1)
    x = torch.rand(4, 3, 16, 16, generator=g)
    y = torch.tensor([3, 1, 7, 0], dtype=torch.int64)

    os.makedirs(OUT, exist_ok=True)
    dyn = {'input': {0: 'N'}, 'logits': {0: 'N'}}
    common = dict(input_names=['input'], output_names=['logits'], dynamic_axes=dyn, export_params=True, do_constant_folding=True)
    P = torch.onnx.TrainingMode.PRESERVE
    exports = {
        'torch_resnet_op17_bn.onnx': dict(opset_version=17, training=P),
        'torch_resnet_op13.onnx': dict(opset_version=13),
        'torch_resnet_op13_kiai.onnx': dict(opset_version=13, training=P, keep_initializers_as_inputs=True),
        'torch_resnet_op11.onnx': dict(opset_version=11),
        'torch_resnet_op9_bn.onnx': dict(opset_version=9, training=P),
    }
    state = copy.deepcopy(model.state_dict())
    for name, kw in exports.items():
        path = os.path.join(OUT, name)
        torch.onnx.export(model, x, path, **common, **kw)
        onnx.checker.check_model(onnx.load(path))
    assert not model.training

    def ce_grads(m, train):
        m = copy.deepcopy(m)
        m.train(train)
        xx = x.clone().requires_grad_(True)
        logits = m(xx)
        loss = F.cross_entropy(logits, y, reduction='sum')
        loss.backward()
        return m, logits, xx.grad

    m_eval, logits_eval, gx_eval = ce_grads(model, False)
    _, _, gx_train = ce_grads(model, True)
    m_fused, logits_fused, _ = ce_grads(fuse(model), False)
    assert torch.allclose(logits_fused, logits_eval, atol=1e-5), 'fused copy disagrees'
    model.load_state_dict(state)

    ref = {
        'description': 'Reference values of scripts/make-torch-fixture.py (torch %s); float arrays are base64 float32 little-endian' % torch.__version__,
        'torch': torch.__version__,
        'input_shape': [3, 16, 16],
        'classes': 10,
        'num_params': nparams,
        'params': [k for k, _ in model.named_parameters()],
        'stats': [k for k in model.state_dict() if k.endswith('running_mean') or k.endswith('running_var')],
        'x_dims': list(x.shape),
        'x': b64(x),
        'y': y.tolist(),
        'logits_eval': b64(logits_eval),
        'loss_sum_eval': float(F.cross_entropy(logits_eval, y, reduction='sum')),
        'grad_x_eval': b64(gx_eval),
        'grad_x_train': b64(gx_train),
        'grad_conv1_eval': b64(m_eval.conv1.weight.grad),
        'grad_conv1_fused_eval': b64(m_fused.conv1.weight.grad),
        'grad_fc_eval': b64(m_eval.fc.weight.grad),
        'conv1_dims': list(model.conv1.weight.shape),
        'fc_dims': list(model.fc.weight.shape),
    }
    with open(os.path.join(OUT, 'torch_resnet_ref.json'), 'w') as f:
        json.dump(ref, f, indent=1)
        f.write('\n')
    for name in [*exports, 'torch_resnet_ref.json']:
        print('%-30s %7d bytes' % (name, os.path.getsize(os.path.join(OUT, name))))
    print('parameters:', nparams)


if __name__ == '__main__':
    import sys
    if sys.argv[1:2] == ['zoo']:
        from torch_zoo import zoo_main
        zoo_main(sys.argv[2:])
    else:
        main()
