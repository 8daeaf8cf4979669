package risk

import (
	"fmt"
	"math"
)

// fitMAP maximises the penalised log-likelihood of a logistic regression
//
//	sum_i [y_i*eta_i - log(1+exp(eta_i))] - 1/2 * sum_j prec_j*(beta_j - mean_j)^2
//
// with eta_i = beta_{g_i} + sum_j beta_{G+j}*x_ij: beta[0:G] are one
// intercept per group (g_i in [0, G) is row i's group; nil means every row
// is in group 0 and G is 1), beta[G:] the coefficients. It uses Newton's
// method with step halving, starts at mean and stops when no coefficient
// moves by more than tol, or fails after maxIter iterations. Every sum runs
// in a fixed order: the result is a function of the input.
func fitMAP(x [][]float64, y []float64, g []int, mean, prec []float64, maxIter int, tol float64) ([]float64, error) {
	k := len(mean)
	groups := k
	if len(x) > 0 {
		groups = k - len(x[0])
	}
	beta := append([]float64(nil), mean...)
	obj := objective(x, y, g, groups, beta, mean, prec)
	grad := make([]float64, k)
	hess := make([]float64, k*k)
	xi := make([]float64, k)
	cand := make([]float64, k)
	for it := 1; it <= maxIter; it++ {
		clear(grad)
		clear(hess)
		for i, row := range x {
			clear(xi[:groups])
			xi[group(g, i)] = 1
			copy(xi[groups:], row)
			mu := Sigmoid(dot(beta, xi))
			w := mu * (1 - mu)
			r := y[i] - mu
			for a := range k {
				if xi[a] == 0 {
					continue
				}
				grad[a] += r * xi[a]
				wa := w * xi[a]
				for b := 0; b <= a; b++ {
					hess[a*k+b] += wa * xi[b]
				}
			}
		}
		for a := range k {
			grad[a] -= prec[a] * (beta[a] - mean[a])
			hess[a*k+a] += prec[a]
			for b := 0; b < a; b++ {
				hess[b*k+a] = hess[a*k+b]
			}
		}
		step, err := solveSPD(hess, grad, k)
		if err != nil {
			return nil, fmt.Errorf("%w: iteration %d: %w", ErrNoConvergence, it, err)
		}
		t := 1.0
		var next float64
		for range 40 {
			for a := range k {
				cand[a] = beta[a] + t*step[a]
			}
			next = objective(x, y, g, groups, cand, mean, prec)
			if next >= obj || math.Abs(next-obj) <= 1e-12*math.Abs(obj) {
				break
			}
			t /= 2
		}
		moved := 0.0
		for a := range k {
			moved = max(moved, math.Abs(cand[a]-beta[a]))
		}
		copy(beta, cand)
		obj = next
		if !finite(obj) {
			return nil, fmt.Errorf("%w: objective became %v at iteration %d", ErrNoConvergence, obj, it)
		}
		if moved < tol {
			return beta, nil
		}
	}
	return nil, fmt.Errorf("%w: coefficients still moving after %d iterations (tolerance %g)", ErrNoConvergence, maxIter, tol)
}

func group(g []int, i int) int {
	if g == nil {
		return 0
	}
	return g[i]
}

func dot(a, b []float64) float64 {
	var s float64
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// log1pExp is log(1+exp(z)) without overflow.
func log1pExp(z float64) float64 {
	if z > 0 {
		return z + math.Log1p(math.Exp(-z))
	}
	return math.Log1p(math.Exp(z))
}

func objective(x [][]float64, y []float64, g []int, groups int, beta, mean, prec []float64) float64 {
	var ll float64
	for i, row := range x {
		eta := beta[group(g, i)] + dot(beta[groups:], row)
		ll += y[i]*eta - log1pExp(eta)
	}
	for a := range beta {
		d := beta[a] - mean[a]
		ll -= 0.5 * prec[a] * d * d
	}
	return ll
}

// solveSPD solves A s = g for a symmetric positive definite k×k matrix A
// (row-major) by Cholesky decomposition.
func solveSPD(a, g []float64, k int) ([]float64, error) {
	l := make([]float64, k*k)
	for i := range k {
		for j := 0; j <= i; j++ {
			s := a[i*k+j]
			for p := range j {
				s -= l[i*k+p] * l[j*k+p]
			}
			if i == j {
				if s <= 0 || !finite(s) {
					return nil, fmt.Errorf("the Hessian is singular (a feature is constant or collinear and unpenalised)")
				}
				l[i*k+i] = math.Sqrt(s)
			} else {
				l[i*k+j] = s / l[j*k+j]
			}
		}
	}
	z := make([]float64, k)
	for i := range k {
		s := g[i]
		for p := range i {
			s -= l[i*k+p] * z[p]
		}
		z[i] = s / l[i*k+i]
	}
	out := make([]float64, k)
	for i := k - 1; i >= 0; i-- {
		s := z[i]
		for p := i + 1; p < k; p++ {
			s -= l[p*k+i] * out[p]
		}
		out[i] = s / l[i*k+i]
	}
	return out, nil
}
