"""Count the parameters of a model config, per module.

Example::

    python tools/analysis_tools/count_params.py \\
        configs/eavl/eavl_swinb_refcoco.py --depth 2

Only the model is built, with random weights: the Swin/CLIP backbones read
their checkpoints in ``init_weights``, which is not called. A BERT text
encoder whose ``pretrained`` directory does not exist here is built from
bert-base-uncased's dimensions (``BertConfig()``'s defaults, the BERT of
EAVL's configs) and the tool says so; ``--cfg-options
model.text_encoder.bert_cfg="dict(...)"`` counts another size.
"""
import argparse
import os.path as osp
import tempfile
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


def offline_text_encoder(text_encoder: dict, vocab_dir: str) -> dict:
    """The text encoder config, buildable without its pretrained files.

    A ``BertTextEncoder`` whose ``pretrained`` directory is missing becomes a
    random BERT of ``bert_cfg`` (default: bert-base-uncased's dimensions)
    with a stand-in vocabulary (the tokenizer holds no parameters). Any other
    encoder is returned unchanged.

    Args:
        text_encoder (dict): ``model.text_encoder`` of a config.
        vocab_dir (str): Folder to write the stand-in ``vocab.txt`` in.

    Returns:
        dict: The config to build.
    """
    pretrained = text_encoder.get('pretrained')
    if (text_encoder.get('type') != 'BertTextEncoder' or pretrained is None
            or osp.isdir(pretrained)):
        return text_encoder
    vocab_file = osp.join(vocab_dir, 'vocab.txt')
    with open(vocab_file, 'w') as f:
        f.write('\n'.join(['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]']))
    bert_cfg = text_encoder.get('bert_cfg') or {}
    print(f'{pretrained} not found: counting a random BERT of '
          f'{bert_cfg or "bert-base-uncased"}\'s size')
    return dict(
        text_encoder,
        pretrained=None,
        bert_cfg=bert_cfg,
        vocab_file=text_encoder.get('vocab_file') or vocab_file)


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
    with tempfile.TemporaryDirectory() as vocab_dir:
        if cfg.model.get('text_encoder') is not None:
            cfg.model.text_encoder = offline_text_encoder(
                cfg.model.text_encoder, vocab_dir)
        model = MODELS.build(cfg.model)
    for name, count in count_by_module(model, args.depth).items():
        indent = '  ' * name.count('.')
        print(f'{indent}{name.rsplit(".", 1)[-1]:<24s} {count / 1e6:10.3f} M')
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    print(f'total {total / 1e6:.3f} M parameters ({total:,}; '
          f'{trainable / 1e6:.3f} M trainable)')


if __name__ == '__main__':
    main()
