// Package distill trains a small student model from a larger teacher's
// soft targets: knowledge distillation (Hinton, Vinyals and Dean, 2015).
//
// The teacher is any model that gives logits for a batch (Teacher); an
// ONNX model runs on edgedl's inference engine (NewONNXTeacher). The
// student is an inference graph that package train can differentiate: a
// built-in architecture from train/arch or an ONNX file.
//
//	teacher, _ := distill.NewONNXTeacher(cnn, 2)           // e.g. mnist_cnn/model.onnx
//	student := arch.MNIST2NN(1)
//	cfg := distill.Config{Temperature: 4, Alpha: 0.9,
//		Train: train.Config{Epochs: 10, Batch: 64, LR: 0.05, Optimizer: &train.SGD{Momentum: 0.9}, Eval: test}}
//	trained, hist, _ := distill.Distill(ctx, student, teacher, trainSet, cfg, train.Callbacks{})
//	onnx.Save("student.onnx", trained)
//
// Distill runs the teacher once over the training set (SoftTargets keeps
// its logits, 4·C bytes per sample, as the data set's targets; a teacher
// ending in Softmax is recognised and its log-probabilities kept) and
// then trains the student with train.Fit and Loss:
//
//	Alpha·T²·KL(softmax(z_teacher/T) ‖ softmax(z_student/T)) + (1-Alpha)·CE(z_student, labels)
//
// whose gradient with respect to the student's logits is
// (Alpha·T·(q-p) + (1-Alpha)·(softmax(z_student) - onehot)) / N. Loss is a
// train.Loss, so it also works in a hand-written loop over a Targets data
// set. With Alpha 1 the labels are not read: the transfer set may be
// unlabelled.
//
// # Errors
//
// A temperature that is not positive, an alpha outside [0, 1], a teacher
// whose output is not [N, C] float32 or does not match the student's,
// batches without teacher logits and labels outside [0, C) are errors.
package distill
