import os
import os.path as osp
from types import SimpleNamespace

import pytest
import torch
from mmengine.structures import BaseDataElement

from mmrefseg.engine import NonFiniteLossHook
from mmrefseg.utils import register_all_modules
from tests.helpers import toy_runner

register_all_modules()


def fake_runner(epoch=1, iteration=7):
    return SimpleNamespace(epoch=epoch, iter=iteration)


def test_finite_losses_pass():
    NonFiniteLossHook().after_train_iter(
        fake_runner(), 0, outputs=dict(loss=torch.tensor(0.5),
                                       acc=torch.tensor(float('nan'))))


@pytest.mark.parametrize('value', [float('nan'), float('inf')])
def test_the_error_names_the_iteration_losses_and_samples(value):
    samples = [
        BaseDataElement(metainfo=dict(ref_id=11, sent_id=21, image_id=5,
                                      img_path='a.jpg')),
        BaseDataElement(metainfo=dict(ref_id=12, sent_id=22, image_id=6,
                                      img_path='b.jpg')),
    ]
    outputs = dict(loss=torch.tensor(value),
                   **{'decode.loss_mask': torch.tensor(value),
                      'decode.loss_aux': torch.tensor(0.3)})
    with pytest.raises(FloatingPointError) as error:
        NonFiniteLossHook().after_train_iter(
            fake_runner(epoch=2, iteration=9), 3,
            data_batch=dict(data_samples=samples), outputs=outputs)
    message = str(error.value)
    assert 'epoch 3, iteration 10 (batch 4 of the epoch' in message
    assert f'decode.loss_mask={value}' in message
    assert 'loss_aux' not in message
    assert 'ref_id=11, sent_id=21, image_id=5, img_path=a.jpg' in message
    assert 'ref_id=12, sent_id=22' in message


def test_training_stops_and_the_checkpoints_stay_resumable(tmp_path):
    # 12 samples in batches of 4: iteration 5 is the 2nd batch of epoch 2.
    runner = toy_runner(tmp_path, max_epochs=3,
                        model=dict(type='TestOnlyToyRegressor', poison_at=5))
    with pytest.raises(FloatingPointError, match='epoch 2, iteration 5 '):
        runner.train()
    assert sorted(f for f in os.listdir(tmp_path)
                  if f.endswith('.pth')) == ['epoch_1.pth']
    checkpoint = torch.load(osp.join(tmp_path, 'epoch_1.pth'),
                            weights_only=False)
    assert all(v.isfinite().all() for v in checkpoint['state_dict'].values())
    resumed = toy_runner(tmp_path, max_epochs=3, resume=True)
    resumed.train()
    assert resumed.iter == 9
    assert resumed.model.linear.weight.isfinite().all()
