"""The referring segmentor: image + sentence -> mask of the referred object."""
from typing import Dict, List, Optional

import torch
import torch.nn.functional as F
from mmengine.structures import PixelData
from mmseg.models.segmentors import BaseSegmentor
from mmseg.structures import SegDataSample
from mmseg.utils import add_prefix
from torch import Tensor

from mmrefseg.registry import MODELS
from mmrefseg.utils.geometry import restore_original_size

__all__ = ['ReferSegmentor']


@MODELS.register_module()
class ReferSegmentor(BaseSegmentor):
    """Image encoder + text encoder + fusion neck + referring head.

    The sentence of each sample is its ``text`` metainfo. The VL feature
    dict handed to the head holds ``img_feats`` (backbone maps, global
    excluded), ``global_img`` ((B, C_g) when ``backbone.with_global``, else
    None), ``word_feats``, ``pad_mask``, ``sentence_feat`` and ``fused`` (the
    neck output, None without a neck).

    A backbone whose attribute ``with_text`` is True reads the sentences
    (LAVT): it is called as ``backbone(images, text)`` with the text
    encoder's output dict, one image per sentence.

    Prediction: sigmoid, upsample to the network input frame, drop the
    batch padding, undo the letterbox / resize onto ``ori_shape``
    (:func:`mmrefseg.utils.geometry.restore_original_size`), threshold.

    Args:
        backbone (dict): Image encoder config.
        text_encoder (dict): Text encoder config.
        decode_head (dict): Head config (a ``BaseReferHead``).
        neck (dict, optional): Fusion neck config. Defaults to None.
        train_cfg (dict, optional): Passed to the head's ``loss``. Defaults
            to None.
        test_cfg (dict, optional): ``threshold`` (probability, default 0.35),
            ``upsample_mode`` (default 'bicubic') and ``align_corners``
            (default True), all as the CRIS reference. Defaults to None.
        data_preprocessor (dict, optional): Defaults to None.
        init_cfg (dict, optional): Defaults to None.
    """

    def __init__(self,
                 backbone: dict,
                 text_encoder: dict,
                 decode_head: dict,
                 neck: Optional[dict] = None,
                 train_cfg: Optional[dict] = None,
                 test_cfg: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        super().__init__(
            data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone)
        self.text_encoder = MODELS.build(text_encoder)
        self.neck = MODELS.build(neck) if neck is not None else None
        self.decode_head = MODELS.build(decode_head)
        self.train_cfg = train_cfg
        self.test_cfg = test_cfg

    @staticmethod
    def _texts(data_samples: Optional[list]) -> List[str]:
        if not data_samples:
            raise ValueError('ReferSegmentor needs data_samples carrying the '
                             "sentence as 'text' metainfo")
        texts = []
        for i, sample in enumerate(data_samples):
            text = sample.metainfo.get('text')
            if not isinstance(text, str):
                raise KeyError(f'data sample {i} '
                               f"({sample.metainfo.get('img_path')}) has no "
                               f"'text' metainfo (got {text!r})")
            texts.append(text)
        return texts

    def extract_feat(self, inputs: Tensor,
                     data_samples: list) -> Dict[str, Optional[Tensor]]:
        """Encodes images and sentences and fuses them.

        Args:
            inputs (Tensor): (B, 3, H, W) normalised images, or (1, 3, H, W)
                for one image described by B sentences: it is encoded once.
            data_samples (list[:obj:`SegDataSample`]): B samples with
                ``text``.

        Returns:
            dict: The VL feature dict (see the class docstring).
        """
        text = self.text_encoder(self._texts(data_samples))
        return self.extract_feat_from_text(inputs, text)

    def extract_feat_from_text(
            self, inputs: Tensor,
            text: Dict[str, Tensor]) -> Dict[str, Optional[Tensor]]:
        """Encodes images and fuses them with encoded sentences.

        Args:
            inputs (Tensor): (B, 3, H, W) normalised images, or (1, 3, H, W)
                for one image described by B sentences: it is encoded once
                and its features shared.
            text (dict[str, Tensor]): The text encoder's output for B
                sentences: ``word_feats``, ``pad_mask``, ``sentence_feat``
                (None from an encoder built without a sentence feature).

        Returns:
            dict: The VL feature dict (see the class docstring).
        """
        batch = text['word_feats'].shape[0]
        if getattr(self.backbone, 'with_text', False):
            # The sentence shapes the image features: one image per sentence.
            img_outs = tuple(
                self.backbone(inputs.expand(batch, *inputs.shape[1:]), text))
        else:
            # A no-op view for B images; B views of one image's features.
            img_outs = tuple(
                feat.expand(batch, *feat.shape[1:])
                for feat in self.backbone(inputs))
        global_img = None
        if getattr(self.backbone, 'with_global', False):
            img_outs, global_img = img_outs[:-1], img_outs[-1]
        fused = None
        if self.with_neck:
            fused = self.neck(img_outs, text['sentence_feat'])
        return dict(
            img_feats=img_outs,
            global_img=global_img,
            word_feats=text['word_feats'],
            pad_mask=text['pad_mask'],
            sentence_feat=text['sentence_feat'],
            fused=fused)

    def encode_decode(self, inputs: Tensor, data_samples: list) -> Tensor:
        """Mask logits (B, 1, h, w) of the head at its own resolution."""
        feats = self.extract_feat(inputs, data_samples)
        batch_img_metas = [sample.metainfo for sample in data_samples]
        return self.decode_head.predict(feats, batch_img_metas,
                                        self.test_cfg)

    def _decode_with_no_target(self, feats: dict,
                               data_samples: list) -> tuple:
        """The head's mask logits (B, 1, h, w) and its no-target decisions
        ((B, ) bool; None for a head without a no-target branch)."""
        batch_img_metas = [sample.metainfo for sample in data_samples]
        predict = getattr(self.decode_head, 'predict_with_no_target', None)
        if predict is None:
            return self.decode_head.predict(feats, batch_img_metas,
                                            self.test_cfg), None
        return predict(feats, batch_img_metas, self.test_cfg)

    def loss(self, inputs: Tensor, data_samples: list) -> Dict[str, Tensor]:
        """The head's losses, prefixed with ``decode.``."""
        feats = self.extract_feat(inputs, data_samples)
        losses = self.decode_head.loss(feats, data_samples, self.train_cfg)
        return add_prefix(losses, 'decode')

    def predict(self,
                inputs: Tensor,
                data_samples: list,
                with_query_masks: bool = False) -> list:
        """Predicts the masks at the original image sizes.

        Args:
            inputs (Tensor): (B, 3, H, W), or (1, 3, H, W) for B sentences.
            data_samples (list[:obj:`SegDataSample`]): B samples with
                ``text``.
            with_query_masks (bool): Also give the mask of each query and
                its score, where the head's ``forward_masks`` gives them
                (EAVL's aligner, paper Fig. 4); other heads ignore it. The
                encoders run once; the main mask is the same either way.
                Defaults to False.

        Returns:
            list[:obj:`SegDataSample`]: ``data_samples`` with
            ``seg_logits`` (foreground probabilities, (1, H0, W0) float) and
            ``pred_sem_seg`` ((1, H0, W0) int64 in {0, 1}) set; with query
            masks also ``query_seg_logits`` (probabilities, (Nq, H0, W0))
            and ``query_scores`` ((Nq, ) float, summing to one); with a
            head's no-target branch (GRES) also ``pred_no_target`` (bool,
            True with an empty mask).
        """
        batch_input_shape = tuple(inputs.shape[-2:])
        feats = self.extract_feat(inputs, data_samples)
        logits, no_target = self._decode_with_no_target(feats, data_samples)
        results = self.postprocess_result(logits, data_samples,
                                          batch_input_shape)
        if no_target is not None:
            # GRES: the head's no-target branch already emptied the mask.
            for sample, flag in zip(results, no_target.tolist()):
                sample.pred_no_target = bool(flag)
        forward_masks = getattr(self.decode_head, 'forward_masks', None)
        if with_query_masks and forward_masks is not None:
            self._add_query_masks(forward_masks(feats), results,
                                  batch_input_shape)
        return results

    def _add_query_masks(self, masks_and_scores: tuple, results: list,
                         batch_input_shape: tuple) -> None:
        """Puts each query's mask (probabilities at the original size, as
        the main mask) and score into ``results``; nothing for a head whose
        masks have no scores (a single kernel)."""
        query_logits, scores = masks_and_scores
        if scores is None:
            return
        for sample, sample_query_logits, sample_scores in zip(
                results, query_logits, scores):
            per_query = self.postprocess_result(
                sample_query_logits.unsqueeze(1), [
                    SegDataSample(metainfo=sample.metainfo)
                    for _ in range(len(sample_query_logits))
                ], batch_input_shape)
            sample.set_data(
                dict(
                    query_seg_logits=PixelData(data=torch.cat(
                        [query.seg_logits.data for query in per_query])),
                    query_scores=sample_scores.float()))

    def _forward(self, inputs: Tensor,
                 data_samples: Optional[list] = None) -> Tensor:
        """Tensor mode: the head's mask logits (B, 1, h, w)."""
        feats = self.extract_feat(inputs, data_samples)
        return self.decode_head.forward(feats)

    def aug_test(self, inputs, data_samples):
        """Not supported: flips change the meaning of 'left' and 'right'."""
        raise NotImplementedError(
            'ReferSegmentor has no test-time augmentation')

    def postprocess_result(self, logits: Tensor, data_samples: list,
                           batch_input_shape: tuple) -> list:
        """Turns logits into masks at the original image sizes.

        Args:
            logits (Tensor): (B, 1, h, w) mask logits.
            data_samples (list[:obj:`SegDataSample`]): With ``ori_shape``,
                ``img_shape``, ``scale_factor`` and ``pad_offset``.
            batch_input_shape (tuple[int, int]): (H, W) of the batched
                network input, which may exceed a sample's ``img_shape`` by
                the data preprocessor's bottom/right padding.

        Returns:
            list[:obj:`SegDataSample`]: ``data_samples``, filled.
        """
        cfg = self.test_cfg or {}
        threshold = cfg.get('threshold', 0.35)
        mode = cfg.get('upsample_mode', 'bicubic')
        align_corners = cfg.get('align_corners', True)

        probs = logits.float().sigmoid()
        if tuple(probs.shape[-2:]) != tuple(batch_input_shape):
            probs = F.interpolate(
                probs,
                size=batch_input_shape,
                mode=mode,
                align_corners=None if mode == 'nearest' else align_corners)
        for prob, sample in zip(probs, data_samples):
            img_h, img_w = sample.metainfo.get('img_shape',
                                               batch_input_shape)[:2]
            prob = restore_original_size(
                prob[:, :img_h, :img_w],
                sample.metainfo,
                mode=mode,
                align_corners=align_corners).clamp_(0, 1)
            sample.set_data(
                dict(
                    seg_logits=PixelData(data=prob),
                    pred_sem_seg=PixelData(data=(prob > threshold).long())))
        return data_samples
