"""iREC (Flamich, Havasi & Hernández-Lobato, NeurIPS 2020): compressing images by encoding their latent
representations with relative entropy coding. TF 2.14 re-implementation; see irec_tf/README.md."""

import os

from shared_data.arith import ENV_KEYS as _ENV_KEYS

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

#: The arithmetic variables (:data:`shared_data.arith.ENV_KEYS`) as this process was started, before the
#: thread policy (:func:`shared_data.threads.limit`) fills in its defaults: what a file's arithmetic record
#: names (:func:`rec.fileformat.describe`); the thread count the policy chose is recorded as ``tf_threads``.
START_ENV = {k: os.environ[k] for k in _ENV_KEYS if os.environ.get(k)}
