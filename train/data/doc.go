// Package data provides the data side of on-device training: the Dataset
// interface and in-memory sets, minibatch loading with seeded shuffling,
// loaders for MNIST, Fashion-MNIST and sktime .ts time series, and the
// partitioners that split a data set over federated clients.
//
// A Dataset is indexed: Len, the shape of one sample, and Sample(i, x),
// which copies sample i's features into x and returns its label. A Loader
// cuts it into Batches ([n, shape...] float32 tensors plus labels), in an
// order drawn from (seed, epoch):
//
//	l := &data.Loader{Data: ds, Batch: 64, Shuffle: true, Seed: 1}
//	for b := range l.Epoch(epoch) {
//		... b.X, b.Labels ...
//	}
//
// Partitioners return, for each client, the indices of its samples; every
// sample goes to exactly one client and the result depends only on the
// arguments and the seed: IID, Shards (the pathological non-IID split of
// the FedAvg paper: sort by label, 200 shards of 300, 2 per client),
// Dirichlet (label proportions per client drawn from Dirichlet(alpha)) and
// Unbalanced (lognormal client sizes). Partition wraps them as Subsets.
//
// Fashion-MNIST comes from Debian's dataset-fashion-mnist package, which
// installs the IDX files in /usr/share/datasets/fashion-mnist
// (FashionMNISTDefaultDir; EDGEDL_FASHION_MNIST_DIR overrides).
package data
