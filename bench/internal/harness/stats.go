package harness

import "slices"

// Median returns the median of xs (the mean of the middle two for an
// even count), or 0 for none. It leaves xs as it is. Reports give
// medians over rounds, which one round disturbed by other work on the
// machine does not move much.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m]
	}
	return (s[m-1] + s[m]) / 2
}
