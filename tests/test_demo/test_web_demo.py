"""The web demo in a real browser: headless Chromium drives the page.

The server is ``demo/web_demo.py`` started on a free localhost port with a
tiny random-weight EAVL; Selenium drives Debian's Chromium through its
chromedriver (``tools/setup_env.sh`` installs both). Without them the test
fails: CI installs them.
"""
import json
import os
import os.path as osp
import socket
import subprocess
import sys
import time
import urllib.request
from urllib.parse import urlparse

import cv2
import numpy as np
import pytest
import torch
from pycocotools import mask as mask_utils

from mmrefseg.apis import inference_model, init_model
from mmrefseg.registry import VISUALIZERS
from tests.helpers import make_refer_data
from .conftest import EAVL_TOY, REPO

CHROMIUM = '/usr/bin/chromium'
CHROMEDRIVER = '/usr/bin/chromedriver'
SENTENCES = ['green one', 'the black circle']
#: Seconds to wait for the page to react (a busy 2-core CI machine).
PATIENCE = 90


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.read()


@pytest.fixture(scope='module')
def refer_data(tmp_path_factory):
    return make_refer_data(
        tmp_path_factory.mktemp('refer'), num_images=8, min_size=64,
        max_size=96)


@pytest.fixture(scope='module')
def server(eavl_checkpoint, refer_data, tmp_path_factory):
    """The base URL of a running web demo; stopped after the module."""
    port = _free_port()
    log_path = tmp_path_factory.mktemp('server') / 'web_demo.log'
    env = dict(os.environ, PYTHONPATH=REPO, OMP_NUM_THREADS='1')
    with open(log_path, 'w') as log:
        proc = subprocess.Popen([
            sys.executable,
            osp.join(REPO, 'demo', 'web_demo.py'), EAVL_TOY, eavl_checkpoint,
            '--port',
            str(port), '--examples-dir', refer_data
        ],
                                cwd=REPO,
                                env=env,
                                stdout=log,
                                stderr=subprocess.STDOUT)
    url = f'http://127.0.0.1:{port}/'
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None:
                pytest.fail(f'web_demo.py exited with {proc.returncode}:\n'
                            f'{log_path.read_text()[-5000:]}')
            try:
                _get(url)
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail('web_demo.py did not serve within 180 s:\n'
                                f'{log_path.read_text()[-5000:]}')
                time.sleep(0.5)
        yield url, log_path
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope='module')
def browser(tmp_path_factory):
    """Headless Chromium under chromedriver, logging its network requests."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not osp.isfile(path):
            pytest.fail(f'{path} is missing: run tools/setup_env.sh (it '
                        'installs Debian\'s chromium and chromium-driver)')
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ('--headless', '--no-sandbox', '--disable-gpu',
                     '--disable-quic', '--no-first-run',
                     '--disable-background-networking',
                     '--disable-component-update', '--disable-sync',
                     '--disable-dev-shm-usage', '--window-size=1280,1000',
                     f'--user-data-dir={tmp_path_factory.mktemp("chrome")}'):
        options.add_argument(argument)
    options.set_capability('goog:loggingPrefs', {'performance': 'ALL'})
    driver = webdriver.Chrome(
        service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(PATIENCE)
    yield driver
    driver.quit()


def _wait(driver, condition, what: str):
    from selenium.webdriver.support.ui import WebDriverWait
    try:
        return WebDriverWait(driver, PATIENCE, poll_frequency=0.2).until(
            lambda _: condition())
    except Exception as error:
        status = driver.execute_script(
            "const s = document.querySelector('#status');"
            "return s ? s.innerText : '(no status box)';")
        raise AssertionError(f'timed out waiting for {what}; the status box '
                             f'says: {status!r}') from error


def _status(driver) -> str:
    return driver.execute_script(
        "return document.querySelector('#status').innerText;")


def _upload(driver, path: str):
    from selenium.webdriver.common.by import By
    driver.find_element(By.CSS_SELECTOR,
                        '#image-input input[type=file]').send_keys(path)


def _type_sentences(driver, text: str):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    box = driver.find_element(By.CSS_SELECTOR, '#sentences textarea')
    box.send_keys(Keys.CONTROL, 'a')
    box.send_keys(Keys.DELETE)
    # Enter starts a new line in this multi-line box.
    box.send_keys(text)
    _wait(driver, lambda: box.get_attribute('value') == text,
          f'the text box to hold {text!r}')


def _segment(driver):
    from selenium.webdriver.common.by import By
    driver.find_element(By.ID, 'segment').click()


def _gallery(driver, elem_id: str):
    """(image URL, caption) of every picture of a gallery."""
    return driver.execute_script(
        f"return [...document.querySelectorAll('#{elem_id} .gallery-item')]"
        ".map(item => [item.querySelector('img').src,"
        " item.querySelector('.caption-label').innerText]);")


def _decode_png(url: str) -> np.ndarray:
    picture = cv2.imdecode(np.frombuffer(_get(url), np.uint8),
                           cv2.IMREAD_COLOR)
    assert picture is not None, f'{url} is not a picture'
    return cv2.cvtColor(picture, cv2.COLOR_BGR2RGB)


def _off_machine_requests(driver):
    """URLs the page asked for that are not on this machine."""
    urls = []
    for entry in driver.get_log('performance'):
        message = json.loads(entry['message'])['message']
        if message['method'] in ('Network.requestWillBeSent',
                                 'Network.webSocketCreated'):
            params = message['params']
            url = params.get('request', {}).get('url') or params.get('url')
            parsed = urlparse(url)
            if parsed.scheme in ('http', 'https', 'ws', 'wss') and \
                    parsed.hostname not in ('127.0.0.1', 'localhost'):
                urls.append(url)
    return urls


def _expected(checkpoint: str, image_path: str):
    """inference_model's predictions and the pictures drawn from them."""
    # The server runs one thread: same arithmetic, same masks.
    torch.set_num_threads(1)
    model = init_model(EAVL_TOY, checkpoint)
    predictions = inference_model(model, image_path, SENTENCES)
    visualizer = VISUALIZERS.build(
        dict(type='ReferLocalVisualizer', name='test_web_demo', alpha=0.5))
    rgb = cv2.cvtColor(cv2.imread(image_path), cv2.COLOR_BGR2RGB)
    pictures = [
        visualizer.add_datasample(
            'expected', rgb, pred.data_sample, draw_gt=False, out_file=None)
        for pred in predictions
    ]
    return predictions, pictures


def test_page_segments_two_sentences_and_refuses_bad_input(
        server, browser, eavl_checkpoint, refer_data, tmp_path):
    url, log_path = server
    image_path = osp.join(refer_data, 'images', 'train2014',
                          'COCO_train2014_000000000002.jpg')
    browser.get(url)
    _wait(browser, lambda: browser.execute_script(
        "return !!document.querySelector('#segment');"), 'the page')

    # An image and two sentences.
    _upload(browser, image_path)
    _wait(browser, lambda: 'Image loaded' in _status(browser),
          'the upload to be accepted')
    _type_sentences(browser, '\n'.join(SENTENCES))
    _segment(browser)
    _wait(browser, lambda: len(_gallery(browser, 'overlays')) == 2,
          'two overlays')
    assert '2 sentences in' in _status(browser)
    assert 'ms' in _status(browser)

    predictions, pictures = _expected(eavl_checkpoint, image_path)
    shown = _gallery(browser, 'overlays')
    for (src, caption), pred, picture in zip(shown, predictions, pictures):
        assert caption == f'{pred.text} | score {pred.score:.3f}'
        # The picture on the page is the one drawn from inference_model's
        # mask, pixel for pixel (PNG, lossless).
        np.testing.assert_array_equal(_decode_png(src), picture)
    # The downloadable JSON holds the same masks.
    href = browser.execute_script(
        "return document.querySelector('#masks-json a').href;")
    record = json.loads(_get(href))
    assert [entry['text'] for entry in record['sentences']] == SENTENCES
    for entry, pred in zip(record['sentences'], predictions):
        decoded = mask_utils.decode(
            dict(size=entry['mask_rle']['size'],
                 counts=entry['mask_rle']['counts'].encode())) > 0
        np.testing.assert_array_equal(decoded, pred.mask)
        assert 0 < pred.mask.sum() < pred.mask.size, 'a trivial mask'
    assert not np.array_equal(predictions[0].mask, predictions[1].mask)
    # EAVL: one mosaic of the per-query masks per sentence.
    assert len(_gallery(browser, 'query-masks')) == 2

    # No sentence, then too many: a message, never a stack trace.
    _type_sentences(browser, '   ')
    _segment(browser)
    _wait(browser, lambda: 'at least one sentence' in _status(browser),
          'the empty-sentence message')
    _type_sentences(browser, '\n'.join(f'shape {i}' for i in range(9)))
    _segment(browser)
    _wait(browser, lambda: '9 sentences given' in _status(browser),
          'the too-many-sentences message')

    # A file that is not an image: a message on upload and on Segment.
    not_an_image = tmp_path / 'holiday.png'
    not_an_image.write_text('these are notes, not a picture')
    _upload(browser, str(not_an_image))
    _wait(browser, lambda: '"holiday.png" is not an image' in
          _status(browser), 'the bad-upload message')
    _type_sentences(browser, SENTENCES[0])
    _segment(browser)
    _wait(browser, lambda: 'Cannot segment' in _status(browser) and
          'is not an image' in _status(browser), 'the message on Segment')
    assert _gallery(browser, 'overlays') == []
    page = browser.execute_script('return document.body.innerText;')
    assert 'Traceback' not in page

    # The server keeps serving: the good image works again.
    _upload(browser, image_path)
    _wait(browser, lambda: 'Image loaded' in _status(browser),
          'the second upload')
    _segment(browser)
    _wait(browser, lambda: len(_gallery(browser, 'overlays')) == 1,
          'the overlay after the bad input')

    # Everything the page loaded came from this machine.
    assert _off_machine_requests(browser) == []
    assert 'Traceback' not in log_path.read_text()
