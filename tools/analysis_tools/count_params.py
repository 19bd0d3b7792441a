"""Count the parameters of a model config, per module.

Example::

    python tools/analysis_tools/count_params.py \\
        configs/eavl/eavl_swin-b_bert-base_480_refcoco.py --depth 2

Only the model is built (no weights are loaded by the Swin/CLIP backbones,
which read their checkpoints in ``init_weights``); a BERT given as a
``pretrained`` directory must exist locally, or be replaced for counting with
``--cfg-options model.text_encoder.pretrained=None
model.text_encoder.bert_cfg="dict(...)" model.text_encoder.vocab_file=...``.
"""
import argparse
from collections import OrderedDict

from mmengine.config import Config, DictAction
from torch import nn

from mmrefseg.registry import MODELS
from mmrefseg.utils import register_all_modules


def count_by_module(model: nn.Module, depth: int) -> 'OrderedDict':
    """Parameters per module name, down to ``depth`` levels of nesting.

    Args:
        model (nn.Module): The model.
        depth (int): 1 lists the direct children, 2 their children too...

    Returns:
        OrderedDict[str, int]: dotted module name -> number of parameters.
    """
    counts = OrderedDict()

    def visit(module, prefix, level):
        for name, child in module.named_children():
            counts[prefix + name] = sum(p.numel() for p in child.parameters())
            if level < depth:
                visit(child, f'{prefix}{name}.', level + 1)

    visit(model, '', 1)
    return counts


def parse_args():
    parser = argparse.ArgumentParser(
        description='Count the parameters of a model config')
    parser.add_argument('config', help='config file path')
    parser.add_argument(
        '--depth',
        type=int,
        default=2,
        help='levels of submodules to list (default 2)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, key=value')
    return parser.parse_args()


def main():
    args = parse_args()
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    register_all_modules()
    model = MODELS.build(cfg.model)
    for name, count in count_by_module(model, args.depth).items():
        indent = '  ' * name.count('.')
        print(f'{indent}{name.rsplit(".", 1)[-1]:<24s} {count / 1e6:10.3f} M')
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    print(f'total {total / 1e6:.3f} M parameters '
          f'({trainable / 1e6:.3f} M trainable)')


if __name__ == '__main__':
    main()
