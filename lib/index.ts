/**
 * lenet-cudnn: LeNet5 on MNIST for Node.js, on NVIDIA GPUs through cuDNN and cuBLAS or on any CPU.
 * This module is the package's public API.
 */
export {
  createBackend,
  cudaAvailable,
  explainCudaStatus,
  Backend,
  ConvPoolPlan,
  type BackendOptions,
  type BackendChoice,
  type DeviceChoice,
  type CudaStatus,
  type CudaExplanation,
  type CudaUnavailableError,
  type CudaUnavailableReason,
  type GemmKernel,
} from './backend';
export { Tensor, ShapeError, OutOfMemoryError } from './tensor';
export { RandomState } from './rng';
export {
  LeNetConvPoolLayer,
  HiddenLayer,
  LogisticRegression,
  ParameterArena,
  type Parameter,
  type LayerOptions,
  type ConvPoolOptions,
  type HiddenLayerOptions,
  type LogisticRegressionOptions,
} from './layers';
export { LeNet5, type LeNet5Options, type LeNet5Config } from './lenet5';
export { type Classifier, type ImageInput, type Prediction, type Evaluation, type InferenceOptions } from './inference';
export { Predictor, PREDICTOR_MAX_BATCH, PREDICTOR_MAX_DELAY_MS, type PredictorOptions, type PredictorStats } from './predictor';
export { type Checkpoint } from './checkpoint';
export { CheckpointError, BAD_CHECKPOINT } from './safetensors';
export { FileAccessError } from './fsio';
export { SGD, type Optimizer, type SGDOptimizerOptions } from './optimizer';
export {
  SGDTrainer,
  PatienceTracker,
  evaluateSplit,
  trainStep,
  type TrainableModel,
  type SGDOptions,
  type FitOptions,
  type TrainResult,
  type EpochRecord,
  type ValidationRecord,
  type BatchProgress,
} from './trainer';
export { loadMnist, uploadMnist, type Dataset, type DeviceSplit, type LoadMnistOptions } from './data';
export { loadMnistFiles, defaultMnistDir, readIdxImages, readIdxLabels, MnistFormatError, type MnistHost, type MnistSplit } from './mnist';
export { loadAddon } from './addon';
export { renderTrainingCurves, type CurvePoint, type CurveOptions } from './plot';
